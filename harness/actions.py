"""Timeline actions: what a scenario can inject at a virtual time.

Each action is a function ``(run, params)`` called in the machine's system context at its time
(never inside driver code: actions change the world, drivers react through their callbacks).
Areas register theirs with :func:`action`; ``python -m harness actions`` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ActionFn = Callable[[Any, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    fn: ActionFn
    doc: str
    # Something a remote peer does on the network: exploration may delay it (``explore.jitter``).
    peer: bool = False


_ACTIONS: dict[str, Action] = {}


def action(name: str, doc: str, peer: bool = False) -> Callable[[ActionFn], ActionFn]:
    def register(fn: ActionFn) -> ActionFn:
        _ACTIONS[name] = Action(name, fn, doc, peer)
        return fn

    return register


def known_actions() -> list[str]:
    _load_area_actions()
    return sorted(_ACTIONS)


def get_action(name: str) -> Action:
    _load_area_actions()
    return _ACTIONS[name]


def all_actions() -> list[Action]:
    _load_area_actions()
    return [_ACTIONS[name] for name in sorted(_ACTIONS)]


_area_actions_loaded = False


def _load_area_actions() -> None:
    # Called on every action lookup (twice a schedule when exploring): after the first call the
    # modules are imported, and import_module on a loaded module still costs ~3 us each.
    global _area_actions_loaded
    if _area_actions_loaded:
        return
    import importlib

    for module in AREA_ACTION_MODULES:
        importlib.import_module(module)
    _area_actions_loaded = True


# Modules that register actions of their area when imported.
AREA_ACTION_MODULES = (
    "harness.kernel_actions",
    "harness.network_section",
    "harness.winsock_section",
    "harness.wsk_section",
    "harness.wsk_send_section",
)
