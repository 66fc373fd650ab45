"""The whole rule catalog: importing this module registers every area's rules."""

from __future__ import annotations

from mock_wsk.kernel import rules as _kernel_rules  # noqa: F401
from mock_wsk.tdi import rules as _tdi_rules  # noqa: F401
from mock_wsk.verifier import Rule, all_rules
from mock_wsk.winsock import rules as _winsock_rules  # noqa: F401
from mock_wsk.wsk import rules as _wsk_rules  # noqa: F401

# Area catalogs register themselves on import; list each one here so the catalog is complete.
CATALOG_MODULES = ("mock_wsk.kernel.rules", "mock_wsk.wsk.rules", "mock_wsk.tdi.rules",
                   "mock_wsk.winsock.rules")


def catalog() -> list[Rule]:
    import importlib

    for name in CATALOG_MODULES:
        importlib.import_module(name)
    return all_rules()


def all_rule_ids() -> list[str]:
    return [rule.id for rule in catalog()]
