"""Finding and loading driver stubs.

Stubs load only from the shipped ``driver_stubs`` package or from stub roots the user configured
(``--stubs DIR`` on the command line, ``wsk_stub_roots`` in pytest's ini), never from arbitrary
paths a scenario names: a scenario is data, and data must not pick which code runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from harness.suggest import did_you_mean
from mock_wsk.kernel.driver import DriverImage

SHIPPED_STUBS = Path(__file__).resolve().parent.parent / "driver_stubs"


class StubNotFound(LookupError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def stub_names(roots: Sequence[Path] = ()) -> list[str]:
    names = []
    for root in (SHIPPED_STUBS, *roots):
        for file in sorted(root.rglob("*.py")):
            if file.name.startswith("_"):
                continue
            names.append(file.relative_to(root).with_suffix("").as_posix())
    return names


def resolve_stub(name: str, scenario_dir: Path, roots: Sequence[Path] = ()) -> Path:
    """A stub by name (``echo_server``, ``zoo/wait_in_dpc``) under an allowed root."""
    allowed = [SHIPPED_STUBS.resolve(), *(Path(r).resolve() for r in roots)]
    relative = name[:-3] if name.endswith(".py") else name
    candidates = [root / f"{relative}.py" for root in allowed]
    candidates.append((scenario_dir / f"{relative}.py").resolve())
    for candidate in candidates:
        resolved = candidate.resolve()
        if not any(resolved.is_relative_to(root) for root in allowed):
            continue  # outside every stub root: refused, whatever the scenario says
        if resolved.is_file():
            return resolved
    hint = did_you_mean(relative, stub_names(roots))
    raise StubNotFound(
        f"no driver stub {name!r} under " + ", ".join(str(r) for r in allowed),
        hint=f"did you mean {hint!r}?" if hint else "stubs live in driver_stubs/ or a --stubs root",
    )


@cache
def load_image(path: Path) -> DriverImage:
    """Compile a stub once per process; every run instantiates fresh globals from it."""
    return DriverImage.from_file(path, name=path.stem)
