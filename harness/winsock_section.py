"""The ``winsock:`` scenario section and the ``winsock_reset`` timeline action.

::

    winsock:
      isb_supported: true      # false: a provider without the ISB ioctls (WSAEOPNOTSUPP)
      repost_deadline: 200ms   # winsock.isb.not_reposted after this long sending without one
      connect_rtts: 1          # round trips a blocking connect takes

    timeline:
      - {at: 1s, action: winsock_reset}   # the peer resets every user-mode connection
"""

from __future__ import annotations

from typing import Any

from harness.actions import action
from harness.runner import RUN_SETUP_HOOKS
from harness.scenario import section_loader
from harness.units import parse_duration
from harness.yaml_loader import error_at
from mock_wsk.winsock.stack import WinsockSettings, WinsockStack


@section_loader("winsock")
def load_winsock(path: str, section: Any) -> WinsockSettings:
    settings = WinsockSettings()
    if "isb_supported" in section:
        settings.isb_supported = bool(section["isb_supported"])
    if "repost_deadline" in section:
        try:
            settings.repost_deadline_ns = parse_duration(section["repost_deadline"])
        except ValueError as exc:
            raise error_at(path, section, "repost_deadline", f"winsock.repost_deadline: {exc}") \
                from None
        if settings.repost_deadline_ns <= 0:
            raise error_at(path, section, "repost_deadline", "winsock.repost_deadline must be > 0")
    if "connect_rtts" in section:
        settings.connect_rtts = int(section["connect_rtts"])
    return settings


def _setup(run: Any) -> None:
    settings = run.scenario.sections.get("winsock")
    if settings is not None:
        run.machine.subsystem(WinsockStack).settings = settings


if _setup not in RUN_SETUP_HOOKS:
    RUN_SETUP_HOOKS.append(_setup)


@action("winsock_reset", "The remote peer resets every user-mode TCP connection now: pending "
        "sends fail with WSAECONNRESET, a pending ISB notification is aborted.")
def winsock_reset(run: Any, params: dict[str, Any]) -> None:
    run.machine.subsystem(WinsockStack).reset_all()
