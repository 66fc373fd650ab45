"""Driver-side helpers shared by the WSK tests (no tests here).

They are written the way a WSK driver writes its own helpers: the classic "synchronous call"
(an IRP whose completion routine sets a KEVENT and returns STATUS_MORE_PROCESSING_REQUIRED, then
a wait at PASSIVE_LEVEL), registration boilerplate, and SO_WSK_EVENT_CALLBACK wrappers.
"""

from __future__ import annotations

from typing import Any

from mock_wsk.abi import sizeof
from mock_wsk.kernel.irp import IoAllocateIrp, IoFreeIrp, IoSetCompletionRoutine
from mock_wsk.machine import active_machine
from mock_wsk.wdk import (
    FALSE,
    IO_NO_INCREMENT,
    KEVENT,
    NPI_WSK_INTERFACE_ID,
    POOL_FLAG_NON_PAGED,
    SO_WSK_EVENT_CALLBACK,
    SOL_SOCKET,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_PENDING,
    TRUE,
    WSK_CLIENT_DISPATCH,
    WSK_CLIENT_NPI,
    WSK_EVENT_CALLBACK_CONTROL,
    WSK_EVENT_DISABLE,
    WSK_INFINITE_WAIT,
    WSK_PROVIDER_NPI,
    WSK_REGISTRATION,
    ExAllocatePool2,
    Executive,
    ExFreePool,
    IoAllocateMdl,
    IoFreeMdl,
    KeInitializeEvent,
    KernelMode,
    KeSetEvent,
    KeWaitForSingleObject,
    MmBuildMdlForNonPagedPool,
    NotificationEvent,
    WskCaptureProviderNPI,
    WskDeregister,
    WskRegister,
    WskReleaseProviderNPI,
    WskSetOption,
)


class WskApp:
    """What a WSK driver keeps in its globals: the registration and the provider NPI."""

    def __init__(self) -> None:
        self.Registration = WSK_REGISTRATION()
        self.ProviderNpi = WSK_PROVIDER_NPI()

    def start(self) -> int:
        status = WskRegister(WSK_CLIENT_NPI(None, WSK_CLIENT_DISPATCH()), self.Registration)
        if status:
            return status
        return WskCaptureProviderNPI(self.Registration, WSK_INFINITE_WAIT, self.ProviderNpi)

    def stop(self) -> None:
        WskReleaseProviderNPI(self.Registration)
        WskDeregister(self.Registration)

    @property
    def Client(self) -> Any:
        return self.ProviderNpi.Client

    @property
    def Dispatch(self) -> Any:
        return self.ProviderNpi.Dispatch


def send_buffer(length: int) -> tuple[Any, Any]:
    """A nonpaged pool block of ``length`` bytes and a built MDL describing it (a send buffer)."""
    block = ExAllocatePool2(POOL_FLAG_NON_PAGED, max(length, 1), "kswT")
    mdl = IoAllocateMdl(block, length, FALSE, FALSE, None)
    MmBuildMdlForNonPagedPool(mdl)
    return block, mdl


def free_send_buffer(block: Any, mdl: Any) -> None:
    IoFreeMdl(mdl)
    ExFreePool(block)


def _sync_completion(DeviceObject: Any, Irp: Any, Context: Any) -> int:
    KeSetEvent(Context, IO_NO_INCREMENT, FALSE)
    return STATUS_MORE_PROCESSING_REQUIRED


def sync_call(fn: Any, *args: Any) -> tuple[int, Any]:
    """``fn(*args, Irp)`` and wait for its completion: (final status, IoStatus.Information)."""
    event = KEVENT("SyncIrpEvent")
    KeInitializeEvent(event, NotificationEvent, FALSE)
    irp = IoAllocateIrp(1, FALSE)
    IoSetCompletionRoutine(irp, _sync_completion, event, TRUE, TRUE, TRUE)
    status = fn(*args, irp)
    if status == STATUS_PENDING:
        KeWaitForSingleObject(event, Executive, KernelMode, FALSE, None)
    status, info = irp.IoStatus.Status, irp.IoStatus.Information
    IoFreeIrp(irp)
    return status, info


class AsyncIrp:
    """An IRP whose completion routine records the outcome (usable from any context)."""

    def __init__(self) -> None:
        self.Irp = IoAllocateIrp(1, FALSE)
        self.completed: list[tuple[int, Any, int]] = []  # (status, information, time)
        IoSetCompletionRoutine(self.Irp, self._done, None, TRUE, TRUE, TRUE)

    def _done(self, DeviceObject: Any, Irp: Any, Context: Any) -> int:
        self.completed.append((Irp.IoStatus.Status, Irp.IoStatus.Information,
                               active_machine().now))
        return STATUS_MORE_PROCESSING_REQUIRED

    def free(self) -> None:
        IoFreeIrp(self.Irp)


def control_size() -> int:
    return sizeof("WSK_EVENT_CALLBACK_CONTROL", active_machine().arch)


def enable_events(Socket: Any, mask: int, Irp: Any = None) -> int:
    ctl = WSK_EVENT_CALLBACK_CONTROL(NPI_WSK_INTERFACE_ID, mask)
    return Socket.Dispatch.WskControlSocket(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK,
                                            SOL_SOCKET, control_size(), ctl, 0, None, None, Irp)


def disable_event(Socket: Any, flag: int, Irp: Any = None) -> int:
    ctl = WSK_EVENT_CALLBACK_CONTROL(NPI_WSK_INTERFACE_ID, flag | WSK_EVENT_DISABLE)
    return Socket.Dispatch.WskControlSocket(Socket, WskSetOption, SO_WSK_EVENT_CALLBACK,
                                            SOL_SOCKET, control_size(), ctl, 0, None, None, Irp)


PEER_ADDRESS = "10.0.0.9"
PEER_PORT = 7000


def socket_connect(app: WskApp, context: Any, dispatch: Any,
                   port: int = PEER_PORT) -> tuple[int, Any]:
    """WskSocketConnect to the scenario's listening peer: (status, WSK_SOCKET)."""
    from mock_wsk.wdk import AF_INET, IPPROTO_TCP, SOCK_STREAM, SOCKADDR_IN

    return sync_call(app.Dispatch.WskSocketConnect, app.Client, SOCK_STREAM, IPPROTO_TCP,
                     SOCKADDR_IN(AF_INET, 0, 0), SOCKADDR_IN(AF_INET, port, PEER_ADDRESS), 0,
                     context, dispatch, None, None, None)


def new_socket(app: WskApp, flags: int, context: Any = None,
               dispatch: Any = None) -> tuple[int, Any]:
    from mock_wsk.wdk import AF_INET, IPPROTO_TCP, SOCK_STREAM

    return sync_call(app.Dispatch.WskSocket, app.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP,
                     flags, context, dispatch, None, None, None)


def bind(Socket: Any, port: int) -> int:
    from mock_wsk.wdk import AF_INET, SOCKADDR_IN

    return sync_call(Socket.Dispatch.WskBind, Socket, SOCKADDR_IN(AF_INET, port, 0), 0)[0]


def close(Socket: Any) -> int:
    return sync_call(Socket.Dispatch.WskCloseSocket, Socket)[0]


def listening_peer(m: Any) -> Any:
    """Scenario side: the peer WskSocketConnect reaches."""
    from mock_wsk.wsk import wsk_state

    return wsk_state(m).network.add_peer(PEER_ADDRESS, PEER_PORT, listen=True)


def run_wsk(body: Any, setup: Any = None, later: Any = None, **machine_kw: Any) -> tuple[Any, dict]:
    """Run ``body(app, out)`` in DriverEntry of a WSK driver (``out`` is a dict the body fills;
    sockets it lists in ``out["close"]`` are closed at unload, before WskDeregister).
    ``later(app, out)``, if given, runs at unload first. ``setup(m)`` prepares the scenario."""
    from kernel_helpers import run_driver

    app = WskApp()
    out: dict[str, Any] = {"close": []}

    def entry(DriverObject: Any, RegistryPath: Any) -> None:
        assert app.start() == 0
        body(app, out)

    def unload(DriverObject: Any) -> None:
        if later is not None:
            later(app, out)
        for sock in out["close"]:
            close(sock)
        app.stop()

    m = run_driver(entry, unload, setup=setup, **machine_kw)
    return m, out
