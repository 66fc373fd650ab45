"""The ``tdi:`` scenario section: the buffering TDI transport's settings.

::

    tdi:
      buffer: 64KiB            # send buffer size (per connection, or the shared pool)
      sharing: shared          # per_connection (default) | shared
      send_possible: indicate  # indicate (default) | never (accepted, never called) | refuse
      stall_deadline: 500ms    # tdi.sender_stalled after this long without a resubmission
"""

from __future__ import annotations

from typing import Any

from harness.runner import RUN_SETUP_HOOKS
from harness.scenario import section_loader
from harness.units import parse_duration, parse_size
from harness.yaml_loader import error_at
from mock_wsk.tdi.transport import TdiSettings, TdiTransport


@section_loader("tdi")
def load_tdi(path: str, section: Any) -> TdiSettings:
    kwargs: dict[str, Any] = {}
    parsers = {"buffer": ("buffer_size", parse_size),
               "stall_deadline": ("stall_deadline_ns", parse_duration)}
    for key, (field, parse) in parsers.items():
        if key in section:
            try:
                kwargs[field] = parse(section[key])
            except ValueError as exc:
                raise error_at(path, section, key, f"tdi.{key}: {exc}") from None
    for key in ("sharing", "send_possible"):
        if key in section:
            kwargs[key] = section[key]
    try:
        return TdiSettings(**kwargs)
    except ValueError as exc:
        bad = next((k for k in section if k in str(exc) or parsers.get(k, ("",))[0] in str(exc)),
                   next(iter(section), None))
        raise error_at(path, section, bad, f"tdi: {exc}") from None


def _setup(run: Any) -> None:
    settings = run.scenario.sections.get("tdi")
    if settings is not None:
        run.machine.subsystem(TdiTransport).configure(settings)


if _setup not in RUN_SETUP_HOOKS:
    RUN_SETUP_HOOKS.append(_setup)
