"""Seeded mutations of shipped inputs never crash the CLI: every outcome is a verdict (exit 0 or
1) or a located error (exit 2), never a Python traceback.

Each case takes a shipped scenario (or a saved results document), changes one to three values at
random (deletes a key, adds an unknown one, puts a value of the wrong type or a near miss of the
right one) and runs the real command in-process. The seeds are fixed, so a failure names a case
that reproduces: the mutated file is kept in pytest's tmp_path. These found a crash on a peer
named by a list (``peer: []``) and a dozen in ``report`` on hand-edited results.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent

# Values of every YAML type, and strings shaped like the harness's own (durations, sizes,
# templates, addresses) but wrong.
ODD_VALUES: list[Any] = [
    None, 0, -1, 3.5, "", "x", "-3ms", "64 Kib", "{{ x }}", "10.0.0.999", [], ["x"], [[]], {},
    {"a": 1}, True,
]
EXTRA_KEYS = ["extra", "at", "bytes", "peer", "status", "nth", "every", "count", "rule"]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    items = node.items() if isinstance(node, dict) else \
        enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _paths(value, prefix + (key,))


def _near_miss(value: Any, rng: random.Random) -> Any:
    """A value of the same type that is probably wrong (kept small: a mutated duration must not
    turn a scenario into a minutes-long run)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice([0, -1, -value, value + 1])
    if isinstance(value, float):
        return rng.choice([0.0, -value, float("nan")])
    if isinstance(value, str):
        return rng.choice([value + "x", value[:-1], "-" + value, value.upper(),
                           value + " " + value])
    return rng.choice(ODD_VALUES)


def mutate(document: Any, rng: random.Random) -> Any:
    document = copy.deepcopy(document)
    paths = [p for p in _paths(document) if p]
    if not paths:
        return document
    path = rng.choice(paths)
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    roll = rng.random()
    if roll < 0.25:
        del parent[key]
    elif roll < 0.35 and isinstance(parent, dict):
        parent[rng.choice(EXTRA_KEYS)] = rng.choice(ODD_VALUES)
    elif roll < 0.7:
        parent[key] = _near_miss(parent[key], rng)
    else:
        parent[key] = rng.choice(ODD_VALUES)
    return document


def run_cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = main(list(args))
    return status, out.getvalue()


def _plain_yaml_scenarios() -> list[tuple[Path, Any]]:
    """Shipped scenarios that parse as plain YAML (templated ones need their parameters) and
    run in well under a second (the long flow scenarios would dominate the test's time)."""
    out = []
    for path in sorted((ROOT / "scenarios").rglob("*.yaml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue
        if isinstance(document, dict) and "matrix" not in document and \
                "send" not in path.parts and "winsock" not in path.parts:
            out.append((path, document))
    return out


SCENARIOS = _plain_yaml_scenarios()


@pytest.mark.parametrize("seed", range(4))
def test_mutated_scenarios_end_in_a_verdict_or_a_located_error(seed: int, tmp_path: Path,
                                                               monkeypatch: Any) -> None:
    monkeypatch.chdir(ROOT)  # stubs resolve from the project, as in `make run`
    rng = random.Random(seed)
    for case in range(30):
        source, document = rng.choice(SCENARIOS)
        for _ in range(rng.randint(1, 3)):
            document = mutate(document, rng)
        target = tmp_path / f"case{case}.yaml"
        target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        status, output = run_cli("run", str(target))
        assert status in (0, 1, 2) and "Traceback" not in output, \
            f"{source.name} mutated as {target}:\n{output[-2000:]}"
        if status == 2:  # a located error: the file and a line
            assert f"{target}:" in output, output


@pytest.fixture(scope="module")
def saved_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("saved") / "results.json"
    status, output = run_cli("run", str(ROOT / "scenarios/zoo/irp_double_completion.yaml"),
                             str(ROOT / "scenarios/kernel/timer_counter.yaml"), "--json")
    assert status == 0, output
    document = json.loads(output[output.index("{"):])
    out.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return document


def test_mutated_results_documents_render_or_fail_at_a_line(saved_results: dict[str, Any],
                                                             tmp_path: Path) -> None:
    rng = random.Random(0)
    for case in range(120):
        document = saved_results
        for _ in range(rng.randint(1, 3)):
            document = mutate(document, rng)
        target = tmp_path / f"results{case}.json"
        target.write_text(json.dumps(document, indent=2), encoding="utf-8")
        status, output = run_cli("report", str(target), "--out", str(tmp_path / "report"))
        assert status in (0, 1, 2) and "Traceback" not in output, f"{target}:\n{output}"
        if status == 2:
            assert f"ERROR {target}:" in output, output


def test_a_results_field_of_the_wrong_type_is_reported_at_its_line(
        saved_results: dict[str, Any], tmp_path: Path) -> None:
    document = copy.deepcopy(saved_results)
    document["results"][1]["metrics"] = ["not", "an", "object"]
    target = tmp_path / "results.json"
    text = json.dumps(document, indent=2)
    target.write_text(text, encoding="utf-8")
    line = text.splitlines().index('      "metrics": [') + 1
    status, output = run_cli("report", str(target), "--out", str(tmp_path / "report"))
    assert status == 2
    assert f"ERROR {target}:{line}: results[1].metrics: ['not', 'an', 'object'] is not of " \
           "type 'object'" in output
    assert not (tmp_path / "report" / "index.html").exists()
