"""The generated docs in the repository match their sources (schema, rules, fidelity choices)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.docs import generate

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("name", sorted(generate()))
def test_generated_docs_are_up_to_date(name: str) -> None:
    expected = generate()[name]
    current = (DOCS / name).read_text(encoding="utf-8") if (DOCS / name).exists() else ""
    assert current == expected, f"docs/{name} is stale: run `python -m harness docs`"


def test_reference_covers_every_schema_section() -> None:
    from harness.scenario import schema

    reference = generate()["scenario-reference.md"]
    for key in schema()["properties"]:
        assert f"`{key}`" in reference
    for key in ("callbacks", "order", "statuses", "liveness", "matrix", "extends"):
        assert f"`{key}`" in reference


def test_tutorial_commands_exist() -> None:
    from harness.cli import build_parser

    tutorial = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    commands = {line.split()[4] for line in tutorial.splitlines()
                if line.startswith("$ python -m harness ")}
    assert commands == {"new", "run", "replay"}
    parser = build_parser()
    for command in commands:
        parser.parse_args([command, "x"])  # every command the tutorial shows parses


def test_every_shipped_scenario_has_the_schema_modeline() -> None:
    schema = (DOCS.parent / "harness" / "scenario.schema.json").resolve()
    scenarios = sorted((DOCS.parent / "scenarios").rglob("*.yaml"))
    assert scenarios
    for path in scenarios:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        assert (path.parent / first.split("$schema=", 1)[1]).resolve() == schema, path


def test_rule_parameters_and_choices_do_not_depend_on_import_order() -> None:
    # Each subprocess imports a different area first (as a pytest worker might); registration
    # order gives every rule its bug-check param1, so it must be the same in all of them.
    import subprocess
    import sys

    probe = ("import {first}\n"
             "from mock_wsk.rules import catalog\n"
             "from mock_wsk.fidelity import all_choices\n"
             "print([(r.id, r.param1) for r in catalog()], [c.id for c in all_choices()])\n")
    outputs = {
        first: subprocess.run([sys.executable, "-c", probe.format(first=first)], check=True,
                              capture_output=True, text=True).stdout
        for first in ("mock_wsk.winsock.stack", "mock_wsk.tdi.rules", "mock_wsk.wsk.rules",
                      "harness.cli")
    }
    assert len(set(outputs.values())) == 1, outputs
