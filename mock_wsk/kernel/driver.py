"""Drivers: DRIVER_OBJECT, DEVICE_OBJECT, loading a stub and unloading it with leak checks.

A driver stub is a Python file shaped like a driver: a ``DriverEntry(DriverObject, RegistryPath)``
that sets ``DriverObject.DriverUnload``. :class:`DriverImage` compiles the file once and gives
every machine a fresh copy of its globals, so global variables behave as in a freshly loaded
driver even when thousands of runs share one process.
"""

from __future__ import annotations

import ast
import builtins
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mock_wsk import machine as _machine
from mock_wsk.constants import PASSIVE_LEVEL
from mock_wsk.kernel.irql import check_max_irql
from mock_wsk.kernel.types import UNICODE_STRING, store
from mock_wsk.machine import CTX_DONE, KIND_THREAD, Context, Machine
from mock_wsk.status import NT_SUCCESS, STATUS_SUCCESS, status_name
from mock_wsk.verifier import code_location

FILE_DEVICE_NETWORK = 0x00000012  # devioctl.h
FILE_DEVICE_UNKNOWN = 0x00000022  # devioctl.h
FILE_DEVICE_SECURE_OPEN = 0x00000100  # wdm.h (DeviceCharacteristics)


class DRIVER_OBJECT:
    __slots__ = ("DriverName", "DriverUnload", "DeviceObject", "MajorFunction",
                 "DriverExtension", "__dict__")

    def __init__(self, name: str) -> None:
        self.DriverName = UNICODE_STRING(f"\\Driver\\{name}")
        self.DriverUnload: Callable[[DRIVER_OBJECT], None] | None = None
        self.DeviceObject: DEVICE_OBJECT | None = None
        self.MajorFunction: dict[int, Any] = {}
        self.DriverExtension: Any = None

    def __repr__(self) -> str:
        return f"<DRIVER_OBJECT {self.DriverName}>"


class DEVICE_OBJECT:
    __slots__ = ("DriverObject", "DeviceExtension", "NextDevice", "deleted", "__dict__")

    def __init__(self, DriverObject: DRIVER_OBJECT, extension: Any) -> None:
        self.DriverObject = DriverObject
        self.DeviceExtension = extension
        self.NextDevice: DEVICE_OBJECT | None = None
        self.deleted = False


class DeviceExtension(types.SimpleNamespace):
    """A device extension: fields are set by the driver, as on a C struct."""


def IoCreateDevice(DriverObject: DRIVER_OBJECT, DeviceExtensionSize: int, DeviceName: Any,
                   DeviceType: int, DeviceCharacteristics: int, Exclusive: bool,
                   DeviceObject: Any) -> int:
    m = _machine.active_machine()
    m.preemption_point()
    check_max_irql(m, "IoCreateDevice", PASSIVE_LEVEL)
    device = DEVICE_OBJECT(DriverObject, DeviceExtension() if DeviceExtensionSize else None)
    device.NextDevice = DriverObject.DeviceObject
    DriverObject.DeviceObject = device
    store(DeviceObject, device)
    return STATUS_SUCCESS


def IoDeleteDevice(DeviceObject: DEVICE_OBJECT) -> None:
    m = _machine.active_machine()
    m.preemption_point()
    DeviceObject.deleted = True
    driver = DeviceObject.DriverObject
    if driver.DeviceObject is DeviceObject:
        driver.DeviceObject = DeviceObject.NextDevice


# Star imports a stub may start with that instantiate() pre-binds instead of executing:
# ``from mock_wsk.wdk import *`` copies ~500 names one by one (~70 us), which dominated the cost
# of a fresh driver instance during exploration (thousands of instances a second). Pre-bound
# names are the instance's builtins (see StubModule), not copies in its globals.
_PREBOUND_STAR_IMPORTS = ("mock_wsk.wdk",)
_star_namespaces: dict[str, dict[str, Any]] = {}


def _star_namespace(module_name: str) -> dict[str, Any]:
    names = _star_namespaces.get(module_name)
    if names is None:
        import importlib

        module = importlib.import_module(module_name)
        public = getattr(module, "__all__", None)
        if public is None:
            public = [n for n in vars(module) if not n.startswith("_")]
        names = _star_namespaces[module_name] = {n: getattr(module, n) for n in public}
    return names


def _leading_star_imports(tree: ast.Module) -> list[str]:
    """Replace the stub's leading ``from mock_wsk.wdk import *`` by ``pass`` and return the
    module names: binding them before the module body runs is then exactly equivalent.

    Leading: only the docstring and plain imports (``from driver_stubs._wsk_common import
    WskSyncCall``, no star, no include) may come before it, and only if the star import would
    not rebind a name they bound (then the order of the two makes no difference). Executing a
    real ``import *`` of the WDK's few hundred names costs ~100 us per driver instance."""
    found = []
    bound: set[str] = set()  # names the plain imports before it bind
    for index, node in enumerate(tree.body):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if not isinstance(node, ast.ImportFrom | ast.Import):
            break
        stars = [a.name for a in node.names] == ["*"]
        if stars and isinstance(node, ast.ImportFrom) and node.level == 0 and \
                node.module in _PREBOUND_STAR_IMPORTS:
            if not bound.isdisjoint(_star_namespace(node.module)):
                break
            found.append(node.module)
            tree.body[index] = ast.copy_location(ast.Pass(), node)
            continue
        if any(a.name == "*" for a in node.names):
            break  # another star import (or an include): what it binds is not known here
        bound.update(a.asname or a.name.split(".")[0] for a in node.names)
    return found


class IncludeError(ImportError):
    """A ``from driver_stubs.<name> import *`` that cannot be honoured: the stub it names does
    not exist, or the includes form a cycle. ``path`` and ``lineno`` locate the include line."""

    def __init__(self, message: str, path: str, lineno: int) -> None:
        super().__init__(f"{path}:{lineno}: {message}")
        self.path = path
        self.lineno = lineno


# A stub may start from another one: ``from driver_stubs.wsk_client import *`` (or
# ``driver_stubs.zoo.<name>``) executes that stub's code into the *same* fresh namespace - not
# a real import, which would share its module globals between runs - and then the stub's own
# code, which redefines what differs. Compiled images are cached by path and modification time.
_INCLUDE_PACKAGE = "driver_stubs"
_included_images: dict[tuple[str, int], DriverImage] = {}


def _include_target(node: ast.stmt) -> str | None:
    """``wsk_client`` or ``zoo/x`` for a ``from driver_stubs.<...> import *`` statement."""
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None and \
            [a.name for a in node.names] == ["*"]:
        parts = node.module.split(".")
        if parts[0] == _INCLUDE_PACKAGE and len(parts) in (2, 3):
            return "/".join(parts[1:])
    return None


def _include_roots(including: Path) -> list[Path]:
    """Where ``driver_stubs.<...>`` is looked for: the ``driver_stubs`` folder the including
    file lives in (if any), then the shipped package."""
    roots = [parent for parent in including.parents if parent.name == _INCLUDE_PACKAGE][:1]
    import importlib.util

    spec = importlib.util.find_spec(_INCLUDE_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).resolve() not in roots:
            roots.append(Path(location).resolve())
    return roots


def _binds_none_of(statements: Sequence[ast.stmt], star_modules: Sequence[str]) -> bool:
    """Whether ``statements`` (what precedes an include) leave every name of ``star_modules``
    unbound: then binding those names first, with the including stub's, is equivalent."""
    for node in statements:
        if isinstance(node, ast.Pass | ast.Expr) or _include_target(node) is not None:
            continue  # the docstring, a pre-bound star import (now ``pass``), an include
        if not isinstance(node, ast.Import | ast.ImportFrom) or \
                any(a.name == "*" for a in node.names):
            return False
        for alias in node.names:
            bound = alias.asname or alias.name.split(".")[0]
            if any(bound in _star_namespace(module) for module in star_modules):
                return False
    return True


def _resolve_include(target: str, including: Path, lineno: int) -> Path:
    candidates = [root / f"{target}.py" for root in _include_roots(including)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    module = f"{_INCLUDE_PACKAGE}.{target.replace('/', '.')}"
    raise IncludeError(f"no driver stub {module!r} to include (looked for "
                       + ", ".join(str(c) for c in candidates) + ")", str(including), lineno)


class StubModule(types.ModuleType):
    """A driver stub's module. The names of its pre-bound star imports are not copied into its
    globals: its ``__builtins__`` is one dict per image, Python's builtins with those names over
    them, which every instance shares. The stub's code finds them as before (a global is looked
    up in the globals, then in the builtins), and so does attribute access.

    Copying ~500 names into every instance's globals cost more than the rest of an instance,
    and the cyclic GC walked them again after every explored schedule (the globals are in a
    cycle with the stub's functions)."""

    __slots__ = ("_prebound",)  # a slot, not one of the stub's globals

    def __init__(self, name: str, prebound: dict[str, Any]) -> None:
        super().__init__(name)
        self._prebound = prebound

    def __getattr__(self, name: str) -> Any:
        try:
            return self._prebound[name]
        except KeyError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}") from None


def stub_globals(module: Any) -> dict[str, Any]:
    """Every global a stub instance sees, in the order a star import would have bound them:
    the pre-bound names, then (over them) its own."""
    if isinstance(module, StubModule):
        return {**module._prebound, **vars(module)}
    return dict(vars(module))


class DriverImage:
    """A driver stub's compiled code; :meth:`instantiate` gives a fresh set of globals.

    A stub that includes others (``from driver_stubs.<name> import *``) runs as a sequence of
    steps: its own code up to the include, the included image's steps, its code after it, ...
    all in one namespace, so a function the including stub defines replaces the included one.
    """

    def __init__(self, name: str, path: str, code: types.CodeType,
                 prebound: Sequence[str] = (),
                 steps: Sequence[types.CodeType | tuple[DriverImage, bool]] | None = None
                 ) -> None:
        self.name = name
        self.path = path
        self._code = code
        self._prebound = tuple(prebound)
        # None: no include, ``code`` is the whole stub. Otherwise code segments and
        # (included image, whether its star imports must be bound at that point).
        self._steps = tuple(steps) if steps is not None else None
        # The pre-bound names, and the builtins dict with them: made for the first instance.
        self._names: dict[str, Any] = {}
        self._builtins: dict[str, Any] | None = None

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None,
                  _including: tuple[str, ...] = ()) -> DriverImage:
        path = Path(path)
        source = path.read_text(encoding="utf-8")
        filename = str(path.resolve())
        tree = ast.parse(source, filename, "exec")  # a SyntaxError here is the stub's, located
        prebound = _leading_star_imports(tree)
        code = compile(tree, filename, "exec")
        includes = [(i, n) for i, n in enumerate(tree.body) if _include_target(n) is not None]
        if not includes:
            return cls(name or path.stem, str(path), code, prebound)
        steps: list[types.CodeType | tuple[DriverImage, bool]] = []
        start = 0
        for index, node in includes:
            target = _include_target(node)
            assert target is not None
            included_path = _resolve_include(target, path, node.lineno)
            chain = (*_including, f"{filename}:{node.lineno}")
            if str(included_path) in (c.rsplit(":", 1)[0] for c in chain):
                raise IncludeError("include cycle: " + " -> ".join(chain) + f" -> {included_path}",
                                   str(path), node.lineno)
            included = _included_image(included_path, chain)
            if index > start:
                steps.append(compile(ast.Module(tree.body[start:index], []), filename, "exec"))
            # Only a docstring, pre-bound star imports, includes and imports of other names
            # before it: the included stub's pre-bound names can be bound up front.
            leading = _binds_none_of(tree.body[:index], included._prebound)
            if leading:
                prebound += [m for m in included._prebound if m not in prebound]
            steps.append((included, not leading))
            start = index + 1
        if start < len(tree.body):
            steps.append(compile(ast.Module(tree.body[start:], []), filename, "exec"))
        return cls(name or path.stem, str(path), code, prebound, steps)

    def _run(self, namespace: dict[str, Any]) -> None:
        if self._steps is None:
            exec(self._code, namespace)  # the stub's own code, loaded like a driver image
            return
        for step in self._steps:
            if isinstance(step, types.CodeType):
                exec(step, namespace)
                continue
            included, bind_stars = step
            if bind_stars:  # an include after the stub's own code: bound where it stands
                for star in included._prebound:
                    namespace.update(_star_namespace(star))
            doc = namespace.get("__doc__")
            included._run(namespace)
            namespace["__doc__"] = doc  # the including stub's docstring, not the included one's

    def instantiate(self) -> StubModule:
        shared = self._builtins
        if shared is None and self._prebound:
            for star in self._prebound:
                self._names.update(_star_namespace(star))
            # An exact dict: the interpreter's fast global lookups want one.
            shared = self._builtins = {**vars(builtins), **self._names}
        module = StubModule(f"driver_stub_{self.name}", self._names)
        module.__file__ = self.path
        namespace = module.__dict__
        if shared is not None:
            namespace["__builtins__"] = shared  # where exec() would put the builtins module
        self._run(namespace)
        # A user-mode application stub defines main(argv) instead (mock_wsk.winsock.process).
        if not callable(getattr(module, "DriverEntry", None)) and \
                not callable(getattr(module, "main", None)):
            raise ImportError(f"{self.path}: a driver stub must define DriverEntry(DriverObject, "
                              "RegistryPath) (or, for a user-mode application, main(argv))")
        return module


def _included_image(path: Path, chain: tuple[str, ...]) -> DriverImage:
    """An included stub's image, compiled once per modification of the file."""
    key = (str(path), path.stat().st_mtime_ns)
    image = _included_images.get(key)
    if image is None:
        image = _included_images[key] = DriverImage.from_file(path, _including=chain)
    return image


class LoadedDriver:
    """A driver loaded on a machine: its objects, its namespace and its lifecycle contexts."""

    def __init__(self, name: str, module: Any, parameters: Mapping[str, Any]) -> None:
        self.name = name
        self.module = module
        self.DriverObject = DRIVER_OBJECT(name)
        self.RegistryPath = UNICODE_STRING(
            f"\\Registry\\Machine\\System\\CurrentControlSet\\Services\\{name}", dict(parameters)
        )
        self.entry_status: int | None = None
        self.entry_ctx: Context | None = None
        self.unload_ctx: Context | None = None
        self.unloaded = False

    @property
    def loaded(self) -> bool:
        return self.entry_status is not None and NT_SUCCESS(self.entry_status)

    def __repr__(self) -> str:
        status = status_name(self.entry_status) if self.entry_status is not None else "pending"
        return f"<LoadedDriver {self.name} {status}>"


class DriverTable:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.drivers: list[LoadedDriver] = []


def load_driver(m: Machine, module: Any, name: str | None = None,
                parameters: Mapping[str, Any] | None = None) -> LoadedDriver:
    """Start ``module.DriverEntry`` in a system thread at PASSIVE_LEVEL (runs on ``m.run()``)."""
    name = name or getattr(module, "__name__", "driver").rsplit(".", 1)[-1]
    driver = LoadedDriver(name, module, parameters or {})
    m.subsystem(DriverTable).drivers.append(driver)

    def driver_entry() -> None:
        driver.entry_status = module.DriverEntry(driver.DriverObject, driver.RegistryPath)
        m.emit("driver.entry", name, driver.entry_status)

    driver.entry_ctx = m.spawn(KIND_THREAD, f"{name}!DriverEntry", driver_entry, cpu=0)
    return driver


def unload_driver(m: Machine, driver: LoadedDriver) -> Context:
    """Start DriverUnload in a system thread; when it returns, and it was the last driver, run
    every subsystem's leak check (pool, IRPs, MDLs, threads, sockets)."""
    table = m.subsystem(DriverTable)

    def driver_unload() -> None:
        unload = driver.DriverObject.DriverUnload
        if driver.loaded and unload is not None:
            unload(driver.DriverObject)
        driver.unloaded = True
        m.emit("driver.unload", driver.name)
        if all(d.unloaded for d in table.drivers):
            for subsystem in m.subsystems():
                check = getattr(subsystem, "check_unload", None)
                if check is not None:
                    check()
            m.request_stop()  # nothing of the driver may run after this: the run is over

    driver.unload_ctx = m.spawn(KIND_THREAD, f"{driver.name}!DriverUnload", driver_unload,
                                cpu=0)
    return driver.unload_ctx


def check_unload_finished(m: Machine, driver: LoadedDriver) -> bool:
    """After ``m.run()``: report an unload that never returned, with who waits for what."""
    ctx = driver.unload_ctx
    if ctx is None or ctx.state is CTX_DONE or m.halt is not None or m.stuck is not None:
        return True
    graph = m.wait_for_graph()
    m.report(
        "driver.unload_hang",
        f"{driver.name}!DriverUnload never returned; " + ("; ".join(graph) or "nothing runnable"),
        objects={"wait_for": " | ".join(graph)},
        location=code_location(driver.DriverObject.DriverUnload or ctx.routine),
        context=ctx,
    )
    return False
