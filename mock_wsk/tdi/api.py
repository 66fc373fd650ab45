"""The TDI client surface, shaped like tdikrnl.h: build an IRP with a macro, then IoCallDriver.

``TdiBuildSend`` and ``TdiBuildSetEventHandler`` do what the tdikrnl.h macros do: fill the IRP's
*next* stack location (IRP_MJ_INTERNAL_DEVICE_CONTROL, the TDI minor function, DeviceObject,
FileObject, the request parameters) and set the completion routine (invoked on success, error
and cancel) -- the caller then passes the IRP with ``IoCallDriver(DeviceObject, Irp)``.

Opening a connection is the one place the mock departs from the WDK shape:
``TdiMockOpenConnection(ConnectionContext)`` returns ``(DeviceObject, FileObject)`` of an
already *connected* endpoint. It stands in for the real multi-step open (ZwCreateFile of an
address object and of a connection endpoint with the extended attributes, TDI_ASSOCIATE_ADDRESS,
TDI_CONNECT), which is out of scope: the contracts checked here start once a connection exists.
Event handlers are set on that FileObject: in real TDI they are set on the associated *address*
object; with one address per connection the two are interchangeable here.
``TdiMockCloseConnection(FileObject)`` stands in for TDI_DISCONNECT (graceful) + ZwClose.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from mock_wsk import machine as _machine
from mock_wsk.constants import PASSIVE_LEVEL, TDI_SEND, TDI_SET_EVENT_HANDLER
from mock_wsk.kernel.irp import (
    IRP,
    IRP_MJ_INTERNAL_DEVICE_CONTROL,
    IoGetNextIrpStackLocation,
    IoSetCompletionRoutine,
)
from mock_wsk.kernel.irql import check_max_irql
from mock_wsk.tdi.transport import FILE_OBJECT, TdiConnection, TdiTransport

__all__ = [
    "FILE_OBJECT",
    "TDI_REQUEST_KERNEL_SEND",
    "TDI_REQUEST_KERNEL_SET_EVENT",
    "TdiBuildSend",
    "TdiBuildSetEventHandler",
    "TdiMockCloseConnection",
    "TdiMockOpenConnection",
]


class TDI_REQUEST_KERNEL_SEND(SimpleNamespace):
    """``TDI_REQUEST_KERNEL_SEND``: what ``IrpSp->Parameters`` holds for TDI_SEND."""


class TDI_REQUEST_KERNEL_SET_EVENT(SimpleNamespace):
    """``TDI_REQUEST_KERNEL_SET_EVENT``: ``{EventType, EventHandler, EventContext}``."""


def _build_base(Irp: IRP, DevObj: Any, FileObj: Any, CompRoutine: Any, Contxt: Any,
                Minor: int) -> Any:
    """``TdiBuildBaseIrp``: the next stack location and the completion routine."""
    location = IoGetNextIrpStackLocation(Irp)
    if location is None:
        IoSetCompletionRoutine(Irp, CompRoutine, Contxt, True, True, True)  # reports the fault
        return None
    location.MajorFunction = IRP_MJ_INTERNAL_DEVICE_CONTROL
    location.MinorFunction = Minor
    location.DeviceObject = DevObj
    location.FileObject = FileObj
    if CompRoutine is not None:
        IoSetCompletionRoutine(Irp, CompRoutine, Contxt, True, True, True)
    else:
        IoSetCompletionRoutine(Irp, None, None, False, False, False)
    return location


def TdiBuildSetEventHandler(Irp: IRP, DevObj: Any, FileObj: Any, CompRoutine: Any, Contxt: Any,
                            InEventType: int, InEventHandler: Any, InEventContext: Any) -> None:
    location = _build_base(Irp, DevObj, FileObj, CompRoutine, Contxt, TDI_SET_EVENT_HANDLER)
    if location is not None:
        location.Parameters = TDI_REQUEST_KERNEL_SET_EVENT(
            EventType=InEventType, EventHandler=InEventHandler, EventContext=InEventContext)


def TdiBuildSend(Irp: IRP, DevObj: Any, FileObj: Any, CompRoutine: Any, Contxt: Any,
                 MdlAddr: Any, InFlags: int, SendLen: int) -> None:
    location = _build_base(Irp, DevObj, FileObj, CompRoutine, Contxt, TDI_SEND)
    if location is not None:
        location.Parameters = TDI_REQUEST_KERNEL_SEND(SendFlags=InFlags, SendLength=SendLen)
        Irp.MdlAddress = MdlAddr


def TdiMockOpenConnection(ConnectionContext: Any) -> tuple[Any, FILE_OBJECT]:
    """A connected endpoint of the machine's TDI transport (see the module docstring)."""
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "TdiMockOpenConnection", PASSIVE_LEVEL)
    transport = m.subsystem(TdiTransport)
    conn = transport.open_connection(ConnectionContext)
    return transport.device, conn.file_object


def TdiMockCloseConnection(FileObject: FILE_OBJECT) -> None:
    """Graceful disconnect and close: buffered data still drains; blocked sends are cancelled;
    no handler of this connection is called afterwards."""
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "TdiMockCloseConnection", PASSIVE_LEVEL)
    conn = FileObject.FsContext
    if isinstance(conn, TdiConnection):
        conn.close()
