"""Everything a driver stub sees, under its WDK name: ``from mock_wsk.wdk import *``.

DDIs, structures, constants and NTSTATUS values keep their WDK names and parameter order, so
logic ports between a C driver and a stub line by line. Nothing else belongs here.
"""

# ruff: noqa: F401, F403
from mock_wsk.constants import *
from mock_wsk.kernel.dpc import *
from mock_wsk.kernel.driver import (
    DEVICE_OBJECT,
    DRIVER_OBJECT,
    FILE_DEVICE_NETWORK,
    FILE_DEVICE_SECURE_OPEN,
    FILE_DEVICE_UNKNOWN,
    IoCreateDevice,
    IoDeleteDevice,
)
from mock_wsk.kernel.irql import *
from mock_wsk.kernel.sync import *
from mock_wsk.kernel.thread import *
from mock_wsk.kernel.types import *
from mock_wsk.machine import KDPC
from mock_wsk.status import *
