"""When a cancel lands (exploration's ``cancel`` decision): a cancelled WSK request completes
inside IoCancelIrp, or later from a DPC - but always before a WskCloseSocket that follows
completes, and exactly once."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import pytest
from kernel_helpers import rule_ids
from test_wsk_support import (
    close,
    free_send_buffer,
    listening_peer,
    run_wsk,
    send_buffer,
    socket_connect,
)

from mock_wsk.machine import active_machine
from mock_wsk.scheduling import Strategy
from mock_wsk.wdk import (
    FALSE,
    STATUS_CANCELLED,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_PENDING,
    TRUE,
    WSK_BUF,
    WSK_CLIENT_CONNECTION_DISPATCH,
    IoAllocateIrp,
    IoCancelIrp,
    IoFreeIrp,
    IoSetCompletionRoutine,
)


class CancelLands(Strategy):
    """Run to block like fifo, but answer the ``cancel`` question as told - and land a later
    cancellation on the other CPU (a DPC queued on the caller's own CPU at PASSIVE_LEVEL would
    run the moment IoCancelIrp lowers its IRQL)."""

    name = "cancel-lands"

    def __init__(self, later: bool) -> None:
        self.later = later
        self.cancelled = False
        self.landing: list[Hashable] = []

    def choose(self, kind: str, options: Sequence[Hashable]) -> int:
        if kind == "cancel":
            self.cancelled = True
            return int(self.later)
        if kind == "cpu" and self.cancelled:  # where the cancellation lands
            ctx = active_machine().current
            here = ctx.cpu.index if ctx is not None and ctx.cpu is not None else 0
            choice = next(i for i, cpu in enumerate(options) if cpu != here)
            self.landing.append(options[choice])
            return choice
        return 0


@pytest.mark.parametrize("later", [False, True], ids=["inline", "later"])
def test_a_cancelled_receive_completes_once_and_before_the_close(later: bool) -> None:
    events: list[tuple[str, Any]] = []

    def ReceiveDone(DeviceObject: Any, Irp: Any, Context: Any) -> int:
        events.append(("receive completed", Irp.IoStatus.Status))
        return STATUS_MORE_PROCESSING_REQUIRED

    def body(app: Any, out: dict[str, Any]) -> None:
        status, sock = socket_connect(app, None, WSK_CLIENT_CONNECTION_DISPATCH())
        assert status == 0
        block, mdl = send_buffer(4096)
        irp = IoAllocateIrp(1, FALSE)
        IoSetCompletionRoutine(irp, ReceiveDone, None, TRUE, TRUE, TRUE)
        assert sock.Dispatch.WskReceive(sock, WSK_BUF(mdl, 0, 4096), 0, irp) == STATUS_PENDING
        IoCancelIrp(irp)
        events.append(("IoCancelIrp returned", irp.PendingReturned and
                       len([e for e in events if e[0] == "receive completed"])))
        close(sock)  # waits for the close to complete
        events.append(("close completed", active_machine().now))
        IoFreeIrp(irp)
        free_send_buffer(block, mdl)

    strategy = CancelLands(later)
    m, _ = run_wsk(body, setup=listening_peer, strategy=strategy)
    assert rule_ids(m) == []
    names = [name for name, _ in events]
    assert names.count("receive completed") == 1
    assert names.index("receive completed") < names.index("close completed")
    assert ("receive completed", STATUS_CANCELLED) in events
    # Inline: completed inside IoCancelIrp; later: IoCancelIrp returned with it still pending.
    assert events[names.index("IoCancelIrp returned")][1] == (0 if later else 1)
    assert len(strategy.landing) == (1 if later else 0)  # the other CPU's DPC completed it
