"""Bug class: an IRP completed twice (send and IRP lifetime).

The driver's device-control dispatch completes an unknown request with
STATUS_INVALID_DEVICE_REQUEST but forgets to ``return``, so it falls through to the success
path and completes the same IRP again. Windows bug-checks with MULTIPLE_IRP_COMPLETE_REQUESTS;
caught as ``irp.double_completion``. DriverEntry sends its own IRP (IoAllocateIrp) with an
unknown control code to show it.
"""

from types import SimpleNamespace

from mock_wsk.wdk import *  # noqa: F403

IOCTL_GET_STATS = 0x00220004
IOCTL_UNKNOWN = 0x00220008
Device = None
Request = None
completions = 0


def DispatchDeviceControl(DeviceObject, Irp):
    stack = IoGetCurrentIrpStackLocation(Irp)
    if stack.Parameters.DeviceIoControl.IoControlCode != IOCTL_GET_STATS:
        Irp.IoStatus.Status = STATUS_INVALID_DEVICE_REQUEST
        IoCompleteRequest(Irp, IO_NO_INCREMENT)
        # BUG: missing `return STATUS_INVALID_DEVICE_REQUEST`
    Irp.IoStatus.Status = STATUS_SUCCESS
    Irp.IoStatus.Information = 0
    IoCompleteRequest(Irp, IO_NO_INCREMENT)
    return STATUS_SUCCESS


def RequestCompletion(DeviceObject, Irp, Context):
    global completions
    completions += 1
    return STATUS_MORE_PROCESSING_REQUIRED


def DriverEntry(DriverObject, RegistryPath):
    global Device, Request
    device = PVOID()
    status = IoCreateDevice(DriverObject, 0, None, FILE_DEVICE_UNKNOWN, 0, FALSE, device)
    if not NT_SUCCESS(status):
        return status
    Device = device.value
    DriverObject.MajorFunction[IRP_MJ_DEVICE_CONTROL] = DispatchDeviceControl
    Request = IoAllocateIrp(1, FALSE)
    following = IoGetNextIrpStackLocation(Request)
    following.MajorFunction = IRP_MJ_DEVICE_CONTROL
    following.Parameters = SimpleNamespace(DeviceIoControl=SimpleNamespace(
        IoControlCode=IOCTL_UNKNOWN, InputBufferLength=0, OutputBufferLength=0))
    IoSetCompletionRoutine(Request, RequestCompletion, None, TRUE, TRUE, TRUE)
    IoCallDriver(Device, Request)
    IoFreeIrp(Request)
    Request = None
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    IoDeleteDevice(Device)
