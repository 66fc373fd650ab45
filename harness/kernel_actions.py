"""Kernel-level timeline actions: unload early, fail pool allocations."""

from __future__ import annotations

from typing import Any

from harness.actions import action


@action("unload", "Unload the driver now (DriverUnload runs, then the leak checks).")
def unload_now(run: Any, params: dict[str, Any]) -> None:
    run.request_unload()


@action("fail_allocations",
        "The next `count` pool allocations (optionally only with `tag`) return NULL.")
def fail_allocations(run: Any, params: dict[str, Any]) -> None:
    from mock_wsk.kernel.pool import PoolTracker

    tracker = run.machine.subsystem(PoolTracker)
    tracker.fail_allocations(int(params.get("count", 1)), params.get("tag"))
