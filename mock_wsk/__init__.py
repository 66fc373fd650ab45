"""The mock WSK subsystem: a simulated Windows machine, its kernel, WSK, TDI and Winsock.

Importing the package registers every area's verifier rules and fidelity choices in one fixed
order (kernel, WSK, TDI, Winsock), so a rule's bug-check parameter and the generated docs never
depend on which module a program, or a pytest worker, happens to import first.
"""

import importlib as _importlib

_REGISTERING = (
    "mock_wsk.fidelity",  # the WSK choices it defines itself
    "mock_wsk.kernel.choices",
    "mock_wsk.kernel.rules",
    "mock_wsk.wsk.rules",
    "mock_wsk.tdi.rules",  # and the TDI choices
    "mock_wsk.winsock.rules",  # and the Winsock choices
    "mock_wsk.winsock.stack",  # its own choices
)
for _name in _REGISTERING:
    _importlib.import_module(_name)
