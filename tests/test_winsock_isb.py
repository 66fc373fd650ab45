"""User-mode Winsock (CONTRACTS F.25-28): every error path of the ISB ioctls, aborts, buffering,
and the winsock.* rules (one passing and one violating case each)."""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.runner import run_scenario
from harness.scenario import load_scenario
from mock_wsk.machine import Machine
from mock_wsk.transport.link import Links
from mock_wsk.winsock import windows as W
from mock_wsk.winsock.process import Process, start_process
from mock_wsk.winsock.stack import WinsockStack

ROOT = Path(__file__).resolve().parent.parent
PEER = W.SOCKADDR_IN(W.AF_INET, 5001, "10.0.0.2")


def run_app(main: Callable[[], Any], until: int = 1_000_000_000, isb_supported: bool = True,
            **link: Any) -> tuple[Machine, Process]:
    m = Machine(cpus=2)
    m.subsystem(Links).defaults.update({"bandwidth_bps": 100_000_000, "rtt_ns": 10_000_000,
                                        **link})
    m.subsystem(WinsockStack).settings.isb_supported = isb_supported
    process = start_process(m, types.SimpleNamespace(main=lambda argv: main()), "app")
    m.run(until)
    return m, process


def connected(kind: int = W.SOCK_STREAM, flags: int = W.WSA_FLAG_OVERLAPPED) -> int:
    s = W.WSASocketW(W.AF_INET, kind, 0, None, 0, flags)
    assert W.connect(s, PEER, 16) == 0
    return s


def change(s: int, ov: Any = None, routine: Any = None, out: Any = None, cb: int = 0) -> int:
    return W.WSAIoctl(s, W.SIO_IDEAL_SEND_BACKLOG_CHANGE, None, 0, out, cb, W.DWORD(), ov,
                      routine)


def query(s: int, out: Any, cb: int = 4) -> int:
    return W.WSAIoctl(s, W.SIO_IDEAL_SEND_BACKLOG_QUERY, None, 0, out, cb, W.DWORD(), None, None)


def result(s: int, ov: Any) -> int:
    """0 on success, else the WSA error of the finished overlapped request."""
    return 0 if W.WSAGetOverlappedResult(s, ov, W.DWORD(), True, W.DWORD()) \
        else W.WSAGetLastError()


# ---------------------------------------------------------------------- F.25: validation


def test_winsock_f25_errors() -> None:
    seen: dict[str, int] = {}

    def main() -> int:
        def err(rc: int) -> int:
            assert rc == W.SOCKET_ERROR
            return W.WSAGetLastError()

        unconnected = W.socket(W.AF_INET, W.SOCK_STREAM, W.IPPROTO_TCP)
        seen["change_notconn"] = err(change(unconnected, W.WSAOVERLAPPED()))
        seen["query_notconn"] = err(query(unconnected, W.ULONG()))
        dgram = connected(W.SOCK_DGRAM)
        seen["change_dgram"] = err(change(dgram, W.WSAOVERLAPPED()))
        seen["query_dgram"] = err(query(dgram, W.ULONG()))
        s = connected()
        seen["change_outbuf"] = err(change(s, W.WSAOVERLAPPED(), out=W.ULONG(), cb=4))
        seen["query_small"] = err(query(s, W.ULONG(), cb=2))
        seen["not_a_socket"] = err(query(0x7777, W.ULONG()))
        seen["bad_code"] = err(W.WSAIoctl(s, 0x12345678, None, 0, None, 0, W.DWORD(), None,
                                          None))
        isb = W.ULONG()
        seen["query_ok"] = query(s, isb)
        seen["isb"] = isb.value
        seen["wrapper_query"] = W.idealsendbacklogquery(s, isb)
        return 0

    m, process = run_app(main)
    assert process.done
    assert seen == {
        "change_notconn": W.WSAENOTCONN, "query_notconn": W.WSAENOTCONN,
        "change_dgram": W.WSAEOPNOTSUPP, "query_dgram": W.WSAEOPNOTSUPP,
        "change_outbuf": W.WSAEINVAL, "query_small": W.WSAEINVAL,
        "not_a_socket": W.WSAENOTSOCK, "bad_code": W.WSAEINVAL,
        "query_ok": 0, "isb": 14600, "wrapper_query": 0,  # IW = 10 x 1460 before any send
    }
    assert m.violations == []


def test_winsock_f25_provider_without_support() -> None:
    errors: list[int] = []

    def main() -> int:
        s = connected()
        for rc in (change(s, W.WSAOVERLAPPED()), query(s, W.ULONG())):
            assert rc == W.SOCKET_ERROR
            errors.append(W.WSAGetLastError())
        return 0

    run_app(main, isb_supported=False)
    assert errors == [W.WSAEOPNOTSUPP, W.WSAEOPNOTSUPP]


# ---------------------------------------------------------------------- F.26: pending, changing


def test_winsock_f26_change_pends_then_completes_when_the_isb_changes() -> None:
    seen: dict[str, Any] = {}

    def main() -> int:
        s = connected()
        W.setsockopt(s, W.SOL_SOCKET, W.SO_SNDBUF, W.ULONG(0), 4)
        event = W.WSACreateEvent()
        ov = W.WSAOVERLAPPED(event)
        rc = W.idealsendbacklognotify(s, ov, None)
        seen["pending"] = (rc, W.WSAGetLastError(), W.HasOverlappedIoCompleted(ov))
        for _ in range(8):  # data makes slow start grow cwnd, so the ISB moves
            W.WSASend(s, [W.WSABUF(16384)], 1, W.DWORD(), 0, W.WSAOVERLAPPED(), None)
        seen["wait"] = W.WSAWaitForMultipleEvents(1, [event], False, 1000, False)
        seen["result"] = result(s, ov)
        isb = W.ULONG()
        W.idealsendbacklogquery(s, isb)
        seen["isb"] = isb.value
        return 0

    m, _ = run_app(main)
    assert seen["pending"] == (W.SOCKET_ERROR, W.WSA_IO_PENDING, False)
    assert seen["wait"] == W.WSA_WAIT_EVENT_0 and seen["result"] == 0
    assert seen["isb"] > 14600


def test_winsock_f26_blocking_change_blocks_until_the_change() -> None:
    times: list[int] = []

    def sender(param: Any) -> int:
        W.Sleep(30)
        for _ in range(8):
            W.WSASend(param, [W.WSABUF(16384)], 1, W.DWORD(), 0, W.WSAOVERLAPPED(), None)
        return 0

    def main() -> int:
        s = connected(flags=0)  # no overlapped attribute: lpOverlapped is ignored, it blocks
        thread = W.CreateThread(None, 0, sender, s, 0, None)
        times.append(W.GetTickCount64())
        times.append(change(s, W.WSAOVERLAPPED()))
        times.append(W.GetTickCount64())
        W.WaitForSingleObject(thread, W.INFINITE)
        return 0

    run_app(main)
    start, rc, end = times
    assert rc == 0 and end - start >= 30


# ---------------------------------------------------------------------- F.27: aborts


@pytest.mark.parametrize("how", ["shutdown", "shutdown_both", "close", "cancel", "cancel_all",
                                 "second", "reset", "disconnectex", "transmitfile_disconnect",
                                 "transmitpackets_reuse"])
def test_winsock_f27_pending_change_aborted(how: str) -> None:
    seen: dict[str, int] = {}

    def main() -> int:
        s = connected()
        event = W.WSACreateEvent()
        ov = W.WSAOVERLAPPED(event)
        change(s, ov)
        if how == "shutdown":
            W.shutdown(s, W.SD_SEND)
        elif how == "shutdown_both":
            W.shutdown(s, W.SD_BOTH)
        elif how == "close":
            W.closesocket(s)
        elif how == "cancel":
            seen["cancelled"] = int(W.CancelIoEx(s, ov))
        elif how == "cancel_all":
            seen["cancelled"] = int(W.CancelIoEx(s, None))
        elif how == "second":
            change(s, W.WSAOVERLAPPED())
        elif how == "disconnectex":
            seen["ok"] = int(W.DisconnectEx(s, None, 0, 0))
        elif how == "transmitfile_disconnect":
            W.TransmitFile(s, None, 4096, 0, W.WSAOVERLAPPED(), None, W.TF_DISCONNECT)
        elif how == "transmitpackets_reuse":
            packets = [W.TRANSMIT_PACKETS_ELEMENT(cLength=1000), W.TRANSMIT_PACKETS_ELEMENT(
                cLength=500)]
            W.TransmitPackets(s, packets, 2, 0, W.WSAOVERLAPPED(), W.TF_REUSE_SOCKET)
        else:
            m = __import__("mock_wsk.machine", fromlist=["active_machine"]).active_machine()
            m.subsystem(WinsockStack).reset_all()
        seen["error"] = result(s, ov)
        return 0

    m, process = run_app(main)
    assert process.done
    assert seen["error"] == W.WSA_OPERATION_ABORTED
    assert seen.get("cancelled", 1) == 1
    assert seen.get("ok", 1) == 1
    expected = ["winsock.isb.second_change_pending"] if how == "second" else []
    assert [v.rule.id for v in m.violations] == expected


def test_winsock_f27_transmit_without_disconnect_flags_leaves_the_change_pending() -> None:
    seen: dict[str, Any] = {}

    def main() -> int:
        s = connected()
        ov = W.WSAOVERLAPPED(W.WSACreateEvent())
        change(s, ov)
        W.TransmitFile(s, None, 4096, 0, W.WSAOVERLAPPED(), None, 0)
        seen["done"] = W.HasOverlappedIoCompleted(ov)
        # The data still goes out after a TF_DISCONNECT, and a later send is refused.
        W.TransmitFile(s, None, 4096, 0, W.WSAOVERLAPPED(), None, W.TF_DISCONNECT)
        seen["aborted"] = result(s, ov)
        seen["send_after"] = W.WSASend(s, [W.WSABUF(10)], 1, W.DWORD(), 0, W.WSAOVERLAPPED(),
                                       None)
        seen["send_error"] = W.WSAGetLastError()
        return 0

    m, process = run_app(main)
    assert process.done
    assert seen["done"] is False
    assert seen["aborted"] == W.WSA_OPERATION_ABORTED
    assert seen["send_after"] == W.SOCKET_ERROR and seen["send_error"] == W.WSAESHUTDOWN
    assert not m.violations


def test_winsock_f27_blocking_change_fails_with_wsaeintr() -> None:
    path = ROOT / "scenarios/winsock/change_blocking_interrupted.yaml"
    result_ = run_scenario(load_scenario(path))
    assert result_.passed, result_.failures
    assert result_.metrics["driver.change_error"] == W.WSAEINTR


def test_winsock_f27_completion_routine_runs_as_apc_only_when_alertable() -> None:
    seen: list[Any] = []

    def routine(dwError: int, cbTransferred: int, lpOverlapped: Any, dwFlags: int) -> None:
        seen.append(dwError)

    def main() -> int:
        s = connected()
        change(s, W.WSAOVERLAPPED(), routine)
        W.shutdown(s, W.SD_SEND)
        W.Sleep(5)  # not alertable: the APC waits
        seen.append("slept")
        seen.append(W.SleepEx(W.INFINITE, True) == W.WAIT_IO_COMPLETION)
        return 0

    run_app(main)
    assert seen == ["slept", W.WSA_OPERATION_ABORTED, True]


def test_winsock_after_shutdown_and_reset_requests_fail() -> None:
    seen: dict[str, int] = {}

    def main() -> int:
        s = connected()
        W.shutdown(s, W.SD_SEND)
        change(s, W.WSAOVERLAPPED())
        seen["change"] = W.WSAGetLastError()
        W.WSASend(s, [W.WSABUF(10)], 1, W.DWORD(), 0, W.WSAOVERLAPPED(), None)
        seen["send"] = W.WSAGetLastError()
        t = connected()
        ov = W.WSAOVERLAPPED(W.WSACreateEvent())
        W.setsockopt(t, W.SOL_SOCKET, W.SO_SNDBUF, W.ULONG(0), 4)
        W.WSASend(t, [W.WSABUF(1000)], 1, W.DWORD(), 0, ov, None)
        __import__("mock_wsk.machine", fromlist=["x"]).active_machine() \
            .subsystem(WinsockStack).reset_all()
        seen["pending_send"] = result(t, ov)
        W.WSASend(t, [W.WSABUF(10)], 1, W.DWORD(), 0, W.WSAOVERLAPPED(), None)
        seen["send_after_reset"] = W.WSAGetLastError()
        change(t, W.WSAOVERLAPPED())
        seen["change_after_reset"] = W.WSAGetLastError()
        return 0

    run_app(main)
    assert seen == {"change": W.WSAESHUTDOWN, "send": W.WSAESHUTDOWN,
                    "pending_send": W.WSAECONNRESET, "send_after_reset": W.WSAECONNRESET,
                    "change_after_reset": W.WSAENOTCONN}


# ---------------------------------------------------------------------- F.28: send buffering


def test_winsock_f28_sndbuf_zero_completes_sends_only_when_acknowledged() -> None:
    seen: dict[str, Any] = {}

    def main() -> int:
        s = connected()
        W.setsockopt(s, W.SOL_SOCKET, W.SO_SNDBUF, W.ULONG(0), 4)
        event = W.WSACreateEvent()
        ov = W.WSAOVERLAPPED(event)
        start = W.GetTickCount64()
        seen["rc"] = (W.WSASend(s, [W.WSABUF(1000)], 1, W.DWORD(), 0, ov, None),
                      W.WSAGetLastError())
        W.WSAWaitForMultipleEvents(1, [event], False, W.WSA_INFINITE, False)
        seen["elapsed_ms"] = W.GetTickCount64() - start
        t = connected()  # dynamic buffering: a small send is copied at once
        cb = W.DWORD()
        seen["dynamic"] = (W.WSASend(t, [W.WSABUF(1000)], 1, cb, 0, W.WSAOVERLAPPED(), None),
                           cb.value)
        return 0

    run_app(main)
    assert seen["rc"] == (W.SOCKET_ERROR, W.WSA_IO_PENDING)
    assert seen["elapsed_ms"] >= 10  # one RTT
    assert seen["dynamic"] == (0, 1000)


# ---------------------------------------------------------------------- rules


def test_winsock_isb_second_change_pending_violating() -> None:
    r = run_scenario(load_scenario(ROOT / "scenarios/winsock/zoo_two_changes.yaml"))
    assert r.passed, r.failures
    assert [v.rule.id for v in r.violations] == ["winsock.isb.second_change_pending"]
    assert r.violations[0].location is not None
    assert r.violations[0].location.file.endswith("zoo/winsock_two_changes.py")


def test_winsock_isb_second_change_pending_passing() -> None:
    r = run_scenario(load_scenario(ROOT / "scenarios/winsock/change_aborted_by_shutdown.yaml"))
    assert r.passed and r.violations == []


def test_winsock_isb_not_reposted_violating() -> None:
    r = run_scenario(load_scenario(ROOT / "scenarios/winsock/zoo_stops_reposting.yaml"))
    assert r.passed, r.failures
    assert r.violations[0].location.file.endswith("zoo/winsock_stops_reposting.py")


def test_winsock_isb_not_reposted_passing() -> None:
    r = run_scenario(load_scenario(ROOT / "scenarios/winsock/isb_follows_link.yaml"))
    assert r.passed, r.failures
    assert r.violations == []
    assert r.extra["series"]["winsock.sock100.isb"]  # the report gets the ISB series


def test_winsock_overlapped_in_use_violating_and_passing() -> None:
    seen: list[int] = []

    def main() -> int:
        s = connected()
        W.setsockopt(s, W.SOL_SOCKET, W.SO_SNDBUF, W.ULONG(0), 4)
        ov = W.WSAOVERLAPPED(W.WSACreateEvent())
        W.WSASend(s, [W.WSABUF(1000)], 1, W.DWORD(), 0, ov, None)
        seen.append(W.WSASend(s, [W.WSABUF(1000)], 1, W.DWORD(), 0, ov, None))  # still pending
        seen.append(W.WSAGetLastError())
        seen.append(result(s, ov))
        seen.append(W.WSASend(s, [W.WSABUF(1000)], 1, W.DWORD(), 0, ov, None))  # done: reusable
        return 0

    m, _ = run_app(main)
    assert seen == [W.SOCKET_ERROR, W.WSAEINVAL, 0, W.SOCKET_ERROR]
    assert [v.rule.id for v in m.violations] == ["winsock.overlapped.in_use"]
