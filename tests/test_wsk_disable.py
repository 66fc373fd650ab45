"""CONTRACTS A.4 on a real machine: the three disable outcomes, decided by WskReceiveEvent calls
actually in flight on another simulated CPU, and the promises that go with them.

The driver: a connected socket with WskReceiveEvent enabled. The callback signals a KEVENT on
entry and then makes a few DDI calls (preemption points). A system thread waits for the event
and disables the callback, with or without an IRP. Under a random schedule on 2 CPUs the disable
lands while the callback is still running (PENDING / EVENT_PENDING) or after it returned
(SUCCESS); the test explores seeds until each outcome has been seen.
"""

from __future__ import annotations

from typing import Any

from kernel_helpers import rule_ids, run_driver
from test_wsk_support import (
    AsyncIrp,
    WskApp,
    close,
    disable_event,
    enable_events,
    listening_peer,
    socket_connect,
)

from mock_wsk.scheduling import RandomStrategy
from mock_wsk.wdk import (
    FALSE,
    HANDLE,
    IO_NO_INCREMENT,
    KEVENT,
    LONG,
    STATUS_EVENT_PENDING,
    STATUS_PENDING,
    STATUS_SUCCESS,
    THREAD_ALL_ACCESS,
    WSK_CLIENT_CONNECTION_DISPATCH,
    WSK_EVENT_RECEIVE,
    Executive,
    InterlockedIncrement,
    KeInitializeEvent,
    KernelMode,
    KeSetEvent,
    KeWaitForSingleObject,
    NotificationEvent,
    PsCreateSystemThread,
    PsTerminateSystemThread,
)
from mock_wsk.wsk import wsk_state


class RaceDriver:
    """One run's driver: globals as instance attributes, WDK-shaped functions."""

    def __init__(self, with_irp: bool) -> None:
        self.with_irp = with_irp
        self.app = WskApp()
        self.log: list[str] = []
        self.in_callback = KEVENT("InCallback")
        self.counter = LONG()
        self.socket: Any = None
        self.status: int | None = None
        self.irp: AsyncIrp | None = None
        self.dispatch = WSK_CLIENT_CONNECTION_DISPATCH(self.ReceiveEvent)

    def ReceiveEvent(self, SocketContext: Any, Flags: int, DataIndication: Any,
                     BytesIndicated: int, BytesAccepted: Any) -> int:
        self.log.append("enter")
        KeSetEvent(self.in_callback, IO_NO_INCREMENT, FALSE)
        for _ in range(3):
            InterlockedIncrement(self.counter)  # preemption points while in flight
        BytesAccepted.value = BytesIndicated
        self.log.append("return")
        return STATUS_SUCCESS

    def Disabler(self, StartContext: Any) -> None:
        KeWaitForSingleObject(self.in_callback, Executive, KernelMode, FALSE, None)
        if self.with_irp:
            self.irp = AsyncIrp()
            self.status = disable_event(self.socket, WSK_EVENT_RECEIVE, self.irp.Irp)
        else:
            self.status = disable_event(self.socket, WSK_EVENT_RECEIVE)
        self.log.append(f"disable->{self.status:#x}")
        PsTerminateSystemThread(STATUS_SUCCESS)

    def DriverEntry(self, DriverObject: Any, RegistryPath: Any) -> int:
        KeInitializeEvent(self.in_callback, NotificationEvent, FALSE)
        self.app.start()
        status, self.socket = socket_connect(self.app, None, self.dispatch)
        assert status == STATUS_SUCCESS
        assert enable_events(self.socket, WSK_EVENT_RECEIVE) == STATUS_SUCCESS
        PsCreateSystemThread(HANDLE(), THREAD_ALL_ACCESS, None, None, None, self.Disabler, None)
        return STATUS_SUCCESS

    def DriverUnload(self, DriverObject: Any) -> None:
        if self.irp is not None:
            self.irp.free()
        close(self.socket)
        self.app.stop()


def _scenario(m: Any) -> None:
    peer = listening_peer(m)
    net = wsk_state(m).network
    for i in range(4):  # data keeps arriving; later indications must not enter after disable
        net.at(2_000_000 + i * 1_000_000, peer.send, 100)


def _run(with_irp: bool, seed: int) -> tuple[RaceDriver, Any]:
    driver = RaceDriver(with_irp)
    m = run_driver(driver.DriverEntry, driver.DriverUnload, setup=_scenario, cpus=2,
                   strategy=RandomStrategy(seed))
    return driver, m


def _check_promises(driver: RaceDriver, m: Any) -> None:
    log = driver.log
    assert not rule_ids(m), [v.render() for v in m.violations]
    disable_at = next(i for i, e in enumerate(log) if e.startswith("disable->"))
    # After the disable completed (the last in-flight call returned), no entry ever again.
    completed_at = disable_at
    if driver.status in (STATUS_PENDING, STATUS_EVENT_PENDING):
        assert log.count("enter") == log.count("return")
        completed_at = max(disable_at, len(log) - 1 - log[::-1].index("return"))
    assert "enter" not in log[completed_at + 1:], log
    # No new call began after the disable request (only calls already inside may return).
    assert "enter" not in log[disable_at + 1:], log


def test_A4_three_disable_outcomes_from_callbacks_in_flight_on_two_cpus() -> None:
    seen: dict[int, int] = {}
    for seed in range(80):
        for with_irp in (True, False):
            driver, m = _run(with_irp, seed)
            _check_promises(driver, m)
            assert driver.status is not None
            seen[driver.status] = seen.get(driver.status, 0) + 1
            if driver.status == STATUS_PENDING:
                # A4: the IRP completes with success after every in-flight call returned.
                assert driver.irp is not None and len(driver.irp.completed) == 1
                assert driver.irp.completed[0][0] == STATUS_SUCCESS
            if driver.status == STATUS_SUCCESS and with_irp:
                assert driver.irp is not None and driver.irp.completed[0][0] == STATUS_SUCCESS
        if {STATUS_SUCCESS, STATUS_PENDING, STATUS_EVENT_PENDING} <= seen.keys():
            break
    assert {STATUS_SUCCESS, STATUS_PENDING, STATUS_EVENT_PENDING} <= seen.keys(), seen


class SelfDisablingDriver:
    """A callback that disables its own event: it is in flight itself (in-flight = 1)."""

    def __init__(self, with_irp: bool) -> None:
        self.with_irp = with_irp
        self.app = WskApp()
        self.socket: Any = None
        self.log: list[Any] = []
        self.irp: AsyncIrp | None = None

    def ReceiveEvent(self, SocketContext: Any, Flags: int, DataIndication: Any,
                     BytesIndicated: int, BytesAccepted: Any) -> int:
        self.log.append("enter")
        if self.with_irp:
            self.irp = AsyncIrp()
            status = disable_event(self.socket, WSK_EVENT_RECEIVE, self.irp.Irp)
            self.log.append(("disable", status, len(self.irp.completed)))
        else:
            self.log.append(("disable", disable_event(self.socket, WSK_EVENT_RECEIVE), 0))
        BytesAccepted.value = BytesIndicated
        self.log.append("return")
        return STATUS_SUCCESS

    def DriverEntry(self, DriverObject: Any, RegistryPath: Any) -> int:
        self.app.start()
        dispatch = WSK_CLIENT_CONNECTION_DISPATCH(self.ReceiveEvent)
        _, self.socket = socket_connect(self.app, None, dispatch)
        enable_events(self.socket, WSK_EVENT_RECEIVE)
        return STATUS_SUCCESS

    def DriverUnload(self, DriverObject: Any) -> None:
        if self.irp is not None:
            self.irp.free()
        close(self.socket)
        self.app.stop()


def _two_sends(m: Any) -> None:
    peer = listening_peer(m)
    wsk_state(m).network.at(2_000_000, peer.send, 10)
    wsk_state(m).network.at(3_000_000, peer.send, 10)


def test_A4_disable_in_flight_with_irp_returns_pending_for_own_callback() -> None:
    driver = SelfDisablingDriver(with_irp=True)
    m = run_driver(driver.DriverEntry, driver.DriverUnload, setup=_two_sends)
    assert not rule_ids(m)
    assert driver.log[:3] == ["enter", ("disable", STATUS_PENDING, 0), "return"]
    assert driver.irp is not None and [c[0] for c in driver.irp.completed] == [STATUS_SUCCESS]
    assert driver.log.count("enter") == 1, "never entered again after the disable completed"


def test_A4_disable_in_flight_without_irp_returns_event_pending_for_own_callback() -> None:
    driver = SelfDisablingDriver(with_irp=False)
    m = run_driver(driver.DriverEntry, driver.DriverUnload, setup=_two_sends)
    assert not rule_ids(m)
    assert driver.log[1] == ("disable", STATUS_EVENT_PENDING, 0)
    assert driver.log.count("enter") == 1
    assert wsk_state(m).stats.not_entered.get("WskReceiveEvent", 0) == 0  # never even queued
