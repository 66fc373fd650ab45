"""Low resources: the driver's n-th allocation from now returns NULL.

Driver Verifier's low resources simulation fails a driver's allocations at random; exploration
makes it systematic (``explore.fail_allocations``): one decision says which of the driver's
first N allocations fails - a pool block (ExAllocatePool*), an IRP (IoAllocateIrp) or an MDL
(IoAllocateMdl), counted together in the order the driver makes them. IRPs the providers
allocate for themselves are not the driver's and do not count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mock_wsk.machine import Machine


class AllocationFaults:
    """Per machine: how many driver allocations until the one that fails (0: none armed)."""

    __slots__ = ("countdown",)

    def __init__(self, machine: Machine) -> None:
        self.countdown = 0

    def fail_nth(self, n: int) -> None:
        """The ``n``-th driver allocation from now (1: the next) returns NULL."""
        self.countdown = max(0, n)

    def this_one_fails(self) -> bool:
        """Count one driver allocation (only while armed); True for the one that fails."""
        self.countdown -= 1
        return self.countdown == 0
