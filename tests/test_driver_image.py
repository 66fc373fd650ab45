"""DriverImage includes: ``from driver_stubs.<name> import *`` runs the named stub's code into the
including stub's fresh namespace (not a shared import), then the including stub's own code."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mock_wsk.kernel.driver import DriverImage, IncludeError, load_driver, unload_driver
from mock_wsk.machine import Machine

ROOT = Path(__file__).resolve().parent.parent

REFERENCE = '''\
"""Reference: counts ticks; the DPC reads a pool block."""

from mock_wsk.wdk import *

TAG = "feRT"
ticks = 0
Block = None


def Tick():
    global ticks
    ticks += 1
    return Block.Value


def Release():
    ExFreePoolWithTag(Block, TAG)


def DriverEntry(DriverObject, RegistryPath):
    global Block
    Block = ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG)
    Block.Value = 7
    DriverObject.DriverUnload = DriverUnload
    return STATUS_SUCCESS


def DriverUnload(DriverObject):
    Release()
'''

VARIANT = '''\
"""Variant: releases twice."""

from driver_stubs.reference import *


def Release():
    ExFreePoolWithTag(Block, TAG)
    ExFreePoolWithTag(Block, TAG)  # the bug
'''


def _write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    """A ``driver_stubs`` tree of its own: includes resolve there before the shipped one."""
    root = tmp_path / "driver_stubs"
    _write(root, "reference.py", REFERENCE)
    _write(root, "zoo/variant.py", VARIANT)
    return root


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_an_include_runs_the_reference_into_a_fresh_namespace(stubs: Path) -> None:
    image = DriverImage.from_file(stubs / "zoo" / "variant.py")
    first, second = image.instantiate(), image.instantiate()
    assert first.DriverEntry.__code__.co_filename == str(stubs / "reference.py")
    first.ticks = 5
    assert second.ticks == 0  # globals are per instance, as per run
    assert first.Tick.__globals__ is vars(first) and second.Tick.__globals__ is vars(second)
    assert first.STATUS_SUCCESS == 0  # the reference's WDK names came along
    assert first.__doc__ == "Variant: releases twice."  # the including stub's docstring


def test_an_override_in_the_including_stub_takes_effect(stubs: Path) -> None:
    module = DriverImage.from_file(stubs / "zoo" / "variant.py").instantiate()
    assert module.Release.__code__.co_filename == str(stubs / "zoo" / "variant.py")
    assert module.Tick.__code__.co_filename == str(stubs / "reference.py")


def test_a_violation_in_the_override_points_at_the_including_file(stubs: Path) -> None:
    variant = stubs / "zoo" / "variant.py"
    module = DriverImage.from_file(variant).instantiate()
    m = Machine(cpus=1)
    driver = load_driver(m, module, name="variant")
    m.run()
    unload_driver(m, driver)
    m.run()
    [violation] = [v for v in m.violations if v.rule.id == "pool.double_free"]
    assert violation.location is not None
    assert violation.location.file.endswith("zoo/variant.py")
    assert violation.location.line == _line_of(variant, "# the bug")
    assert violation.location.function == "Release"


def test_an_include_of_a_missing_stub_names_the_file_and_line(stubs: Path) -> None:
    path = _write(stubs, "zoo/missing.py",
                  '"""Doc."""\n\nfrom driver_stubs.no_such_stub import *\n')
    with pytest.raises(IncludeError) as info:
        DriverImage.from_file(path)
    assert info.value.path == str(path) and info.value.lineno == 3
    assert f"{path}:3" in str(info.value) and "driver_stubs.no_such_stub" in str(info.value)


def test_include_cycles_are_refused(stubs: Path) -> None:
    a = _write(stubs, "a.py", "from driver_stubs.b import *\n\n\ndef DriverEntry(D, R):\n"
                              "    return 0\n")
    _write(stubs, "b.py", "x = 1\nfrom driver_stubs.zoo.c import *\n")
    _write(stubs, "zoo/c.py", "from driver_stubs.a import *\n")
    with pytest.raises(IncludeError, match="include cycle") as info:
        DriverImage.from_file(a)
    assert "a.py:1 -> " in str(info.value) and "b.py:2 -> " in str(info.value)
    itself = _write(stubs, "itself.py", "from driver_stubs.itself import *\n")
    with pytest.raises(IncludeError, match="include cycle"):
        DriverImage.from_file(itself)


def test_an_include_after_own_code_keeps_import_order(stubs: Path) -> None:
    """An include that follows the stub's own code runs where it stands: what it defines
    replaces what came before, what comes after replaces it."""
    path = _write(stubs, "zoo/late.py",
                  "STATUS_SUCCESS = 99\nTAG = 'mine'\nfrom driver_stubs.reference import *\n"
                  "ticks = 3\n")
    module = DriverImage.from_file(path).instantiate()
    assert (module.STATUS_SUCCESS, module.TAG, module.ticks) == (0, "feRT", 3)


@pytest.mark.parametrize("zoo", sorted(p.stem for p in (ROOT / "driver_stubs" / "zoo").glob("*.py")
                                       if not p.name.startswith("_")))
def test_every_shipped_zoo_stub_instantiates(zoo: str) -> None:
    module = DriverImage.from_file(ROOT / "driver_stubs" / "zoo" / f"{zoo}.py").instantiate()
    assert callable(getattr(module, "DriverEntry", None)) or callable(getattr(module, "main", None))
    assert (module.__doc__ or "").split(":")[0] in {"Bug class", "Known-bad driver"}
