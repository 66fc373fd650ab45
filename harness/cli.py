"""The command line: ``python -m harness run|validate|rules|schema|actions``.

Exit status: 0 every scenario passed, 1 a scenario failed, 2 bad input or usage. Bad input is
reported as ``file:line:col: message`` and never as a Python traceback; the other scenarios of
the run still run, and results already written are kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.errors import ScenarioError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # usage errors: exit 2 with our own wording
        self.print_usage(sys.stderr)
        print(f"harness: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def scenario_files(paths: Sequence[str]) -> Iterator[tuple[Path | None, ScenarioError | None]]:
    """Every scenario file named or found under a directory, in a stable order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.yaml") if p.is_file())
            found += sorted(p for p in path.rglob("*.yml") if p.is_file())
            if not found:
                yield None, ScenarioError("no scenario files (*.yaml) in this directory",
                                          path=raw)
            for file in found:
                yield file, None
        elif path.is_file():
            yield path, None
        else:
            yield None, ScenarioError("no such file or directory", path=raw)


def _load(path: Path, stub_roots: Sequence[Path]) -> Any:
    from harness.scenario import load_scenario

    return load_scenario(path, stub_roots)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.render import failure_report, verdict_line, write_jsonl_trace
    from harness.runner import run_scenario

    stub_roots = [Path(p) for p in args.stubs]
    results = []
    bad_input = False
    errors: list[dict[str, Any]] = []
    for path, error in scenario_files(args.paths):
        if error is None:
            try:
                scenario = _load(path, stub_roots)  # type: ignore[arg-type]
            except ScenarioError as exc:
                error = exc
        if error is not None:
            bad_input = True
            errors.append({"file": error.path, "line": error.line, "error": str(error)})
            print(f"ERROR {error}", file=sys.stderr)
            continue
        if args.seed is not None:
            scenario = scenario.with_seed(args.seed)
        result = run_scenario(scenario)
        results.append(result)
        if not args.json:
            print(verdict_line(result), flush=True)
            if not result.passed:
                print(failure_report(result), flush=True)
        if args.trace and result.trace is not None:
            with open(args.trace, "a", encoding="utf-8") as out:
                write_jsonl_trace(result.trace, out)
    if args.report:
        from harness.report import write_report

        index = write_report(results, Path(args.report), errors)
        if not args.json:
            print(f"report: {index}")
    failed = sum(not r.passed for r in results)
    if args.json:
        json.dump({"results": [r.to_dict() for r in results], "errors": errors,
                   "passed": len(results) - failed, "failed": failed}, sys.stdout, indent=2)
        print()
    else:
        print(f"{len(results) - failed} passed, {failed} failed"
              + (f", {len(errors)} bad input" if errors else ""))
    if bad_input:
        return EXIT_BAD_INPUT
    return EXIT_FAILED if failed else EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    stub_roots = [Path(p) for p in args.stubs]
    status = EXIT_OK
    for path, error in scenario_files(args.paths):
        if error is None:
            try:
                scenario = _load(path, stub_roots)  # type: ignore[arg-type]
                print(f"ok    {path}  ({scenario.name})")
                continue
            except ScenarioError as exc:
                error = exc
        print(f"ERROR {error}", file=sys.stderr)
        status = EXIT_BAD_INPUT
    return status


def cmd_rules(args: argparse.Namespace) -> int:
    from mock_wsk.rules import catalog

    rules = catalog()
    if args.json:
        json.dump([{"id": r.id, "title": r.title, "severity": r.severity.value,
                    "bugcheck": f"0x{r.bugcheck:08X}", "param1": f"0x{r.param1:X}",
                    "doc": r.doc, "source": r.source} for r in rules], sys.stdout, indent=2)
        print()
        return EXIT_OK
    width = max(len(r.id) for r in rules)
    for r in rules:
        print(f"{r.id:<{width}}  {r.severity.value:<7}  0x{r.bugcheck:08X}  {r.title}")
        print(f"{'':<{width}}  {r.doc} ({r.source})")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from harness.scenario import schema

    json.dump(schema(), sys.stdout, indent=2)
    print()
    return EXIT_OK


def cmd_actions(args: argparse.Namespace) -> int:
    from harness.actions import all_actions

    for action in all_actions():
        print(f"{action.name:<20} {action.doc}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m harness",
                     description="Run YAML scenarios against driver stubs on a mock WSK.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run scenarios and report verdicts")
    run.add_argument("paths", nargs="+", help="scenario files or directories")
    run.add_argument("--json", action="store_true", help="machine-readable results on stdout")
    run.add_argument("--seed", type=int, help="override every scenario's seed")
    run.add_argument("--report", metavar="DIR", help="write an HTML report into DIR")
    run.add_argument("--trace", metavar="FILE", help="append JSON-lines traces to FILE")
    run.add_argument("--stubs", metavar="DIR", action="append", default=[],
                     help="an extra root to load driver stubs from")
    run.set_defaults(fn=cmd_run)
    validate = sub.add_parser("validate", help="check scenario files without running them")
    validate.add_argument("paths", nargs="+")
    validate.add_argument("--stubs", metavar="DIR", action="append", default=[])
    validate.set_defaults(fn=cmd_validate)
    rules = sub.add_parser("rules", help="list the verifier's rules")
    rules.add_argument("--json", action="store_true")
    rules.set_defaults(fn=cmd_rules)
    sub.add_parser("schema", help="print the scenario JSON Schema").set_defaults(fn=cmd_schema)
    sub.add_parser("actions", help="list timeline actions").set_defaults(fn=cmd_actions)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_OK
