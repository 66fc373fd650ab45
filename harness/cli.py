"""The command line: ``python -m harness`` (or ``wsk-harness``).

Commands: ``run``, ``validate``, ``explore``, ``replay``, ``report``, ``new``, ``rules``,
``schema``, ``actions``, ``docs``.

Exit status: 0 every scenario passed, 1 a scenario failed, 2 bad input or usage. Bad input is
reported as ``file:line:col: message`` and never as a Python traceback; the other scenarios of
the run still run, and every output file (report, results, traces) is replaced atomically. An
unexpected exception inside the harness or the mock is reported in one line (``--debug`` shows
the traceback) and counts as a failed scenario.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.atomic import AtomicFile, write_atomic
from harness.errors import ScenarioError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # usage errors: exit 2 with our own wording
        self.print_usage(sys.stderr)
        print(f"harness: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


# ---------------------------------------------------------------------- finding scenarios


def scenario_files(paths: Sequence[str]) -> Iterator[tuple[Path | None, Path | None,
                                                           ScenarioError | None]]:
    """``(file, scenario root, error)`` for every file named or found under a directory.

    Files under a directory whose name starts with ``_`` are bases for ``extends:`` and are
    skipped; a directory given on the command line is the scenario root of the files in it.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.y*ml")
                           if p.is_file() and p.suffix in (".yaml", ".yml")
                           and not p.name.startswith("_"))
            if not found:
                yield None, None, ScenarioError("no scenario files (*.yaml) in this directory",
                                                path=raw)
            for file in found:
                yield file, path, None
        elif path.is_file():
            yield path, None, None
        else:
            yield None, None, ScenarioError("no such file or directory", path=raw)


@dataclass
class Loaded:
    scenarios: list[Any]
    errors: list[ScenarioError]


def load_all(paths: Sequence[str], stub_roots: Sequence[Path], case: str | None = None,
             seed: int | None = None) -> Loaded:
    """Every case of every file; bad files become errors, the rest still load."""
    import fnmatch

    from harness.scenario import load_scenarios

    scenarios: list[Any] = []
    errors: list[ScenarioError] = []
    for file, root, error in scenario_files(paths):
        if error is not None or file is None:
            errors.append(error or ScenarioError("no file", path="?"))
            continue
        try:
            cases = load_scenarios(file, stub_roots, root)
        except ScenarioError as exc:
            errors.append(exc)
            continue
        if case is not None and any(s.case for s in cases):  # --case filters matrix files
            chosen = [s for s in cases if s.case == case or fnmatch.fnmatchcase(s.case, case)]
            if not chosen:
                ids = ", ".join(s.case or "(no matrix)" for s in cases)
                errors.append(ScenarioError(f"no matrix case matches {case!r}; cases: {ids}",
                                            path=str(file), line=1))
            cases = chosen
        if seed is not None:
            cases = [s.with_seed(seed) for s in cases]
        scenarios.extend(cases)
    return Loaded(scenarios, errors)


def _error_entry(error: ScenarioError) -> dict[str, Any]:
    return {**error.to_dict(), "file": error.path, "error": str(error)}


# ---------------------------------------------------------------------- output files


def _run_one(scenario: Any, debug: bool, strategy: Any = None) -> Any:
    """Run a scenario; an internal crash becomes a one-line message (None result)."""
    from harness.runner import run_scenario

    try:
        return run_scenario(scenario, strategy)
    except ScenarioError:
        raise
    except Exception as exc:  # a bug in the harness or the mock, not in the user's input
        if debug:
            raise
        print(f"INTERNAL ERROR {scenario.test_id}: {type(exc).__name__}: {exc} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return None


def _write_outputs(args: argparse.Namespace, results: list[Any],
                   errors: list[dict[str, Any]], human: IO[str]) -> None:
    if getattr(args, "perfetto", None):
        from harness.perfetto import write_perfetto
        from harness.timeline import build_timeline

        out = AtomicFile(args.perfetto)
        try:
            write_perfetto(((r.scenario.name, build_timeline(r.trace or [], r.scenario.cpus,
                                                             r.machine.now))
                            for r in results), out.stream)
            out.commit()
        except BaseException:
            out.abandon()
            raise
        print(f"perfetto trace: {args.perfetto}", file=human)
    if getattr(args, "report", None):
        from harness.report import write_report

        index = write_report(results, Path(args.report), errors)
        print(f"report: {index}", file=human)


# ---------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    from harness.render import failure_report, jsonl_header, verdict_line, write_jsonl_trace

    stub_roots = [Path(p) for p in args.stubs]
    loaded = load_all(args.paths, stub_roots, args.case, args.seed)
    human = sys.stderr if args.json else sys.stdout
    errors = [_error_entry(e) for e in loaded.errors]
    for error in loaded.errors:
        print(f"ERROR {error}", file=sys.stderr)
    trace_out = AtomicFile(args.trace) if args.trace else None
    results = []
    crashed = 0
    total = len(loaded.scenarios)
    try:
        for number, scenario in enumerate(loaded.scenarios, 1):
            try:
                result = _run_one(scenario, args.debug)
            except ScenarioError as exc:  # the stub failed to load
                print(f"ERROR {exc}", file=sys.stderr)
                errors.append(_error_entry(exc))
                continue
            if result is None:
                crashed += 1
                continue
            results.append(result)
            print(f"[{number}/{total}] {verdict_line(result)}", file=human, flush=True)
            if not result.passed and not args.json:
                print(failure_report(result), file=human, flush=True)
            if trace_out is not None and result.trace is not None:
                write_jsonl_trace(result.trace, trace_out.stream, jsonl_header(result))
        if trace_out is not None:
            trace_out.commit()
    finally:
        if trace_out is not None and not trace_out.stream.closed:
            trace_out.abandon()
    _write_outputs(args, results, errors, human)
    passed = sum(r.passed for r in results)
    failed = len(results) - passed + crashed
    if args.json:
        from harness.report import results_document

        document = results_document(results, errors)
        document["failed"] = failed
        json.dump(document, sys.stdout, indent=2)
        print()
    else:
        print(f"{passed} passed, {failed} failed"
              + (f", {len(errors)} bad input" if errors else ""))
    if errors:
        return EXIT_BAD_INPUT
    return EXIT_FAILED if failed else EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    stub_roots = [Path(p) for p in args.stubs]
    status = EXIT_OK
    for file, root, error in scenario_files(args.paths):
        if error is None and file is not None:
            from harness.scenario import load_scenarios

            try:
                cases = load_scenarios(file, stub_roots, root)
                extra = f", {len(cases)} cases" if len(cases) > 1 else ""
                print(f"ok    {file}  ({cases[0].base_name or cases[0].name}{extra})")
                continue
            except ScenarioError as exc:
                error = exc
        print(f"ERROR {error}", file=sys.stderr)
        status = EXIT_BAD_INPUT
    return status


def _replay_file(path: str) -> dict[str, Any]:
    """A replay file: ``{scenario, case, seed, strategy, decisions: [[kind, n, choice], ...]}``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read replay file: {exc}", path=path, line=1) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"replay file is not valid JSON: {exc.msg}", path=path,
                            line=exc.lineno, column=exc.colno) from None
    if not isinstance(data, dict) or not isinstance(data.get("scenario"), str):
        raise ScenarioError("a replay file is a JSON object with at least \"scenario\" (the "
                            "scenario file)", path=path, line=1,
                            hint='{"scenario": "s.yaml", "case": "", "seed": 1, '
                            '"strategy": "random", "decisions": [["schedule", 2, 1]]}')
    decisions = data.get("decisions", [])
    if not isinstance(decisions, list) or not all(
            isinstance(d, list) and len(d) == 3 and isinstance(d[0], str)
            and isinstance(d[1], int) and isinstance(d[2], int) for d in decisions):
        raise ScenarioError("\"decisions\" must be a list of [kind, options, choice]", path=path,
                            line=_json_line(text, "decisions"))
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ScenarioError("\"seed\" must be an integer", path=path,
                            line=_json_line(text, "seed"))
    for key in ("fail_allocations", "jitter_ns"):  # absent from files made before them: 0
        value = data.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ScenarioError(f"\"{key}\" must be a whole number, 0 or more", path=path,
                                line=_json_line(text, key))
    return data


def _count_arg(text: str) -> int:
    """argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, not {text!r}")
    return value


def _duration_arg(text: str) -> int:
    """argparse type: a duration as scenarios write it (``40us``), in nanoseconds."""
    from harness.units import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _json_line(text: str, key: str) -> int:
    index = text.find(f'"{key}"')
    return text.count("\n", 0, index) + 1 if index >= 0 else 1


def cmd_replay(args: argparse.Namespace) -> int:
    from harness.render import failure_report, story, verdict_line

    stub_roots = [Path(p) for p in args.stubs]
    strategy = None
    scenario_path = args.file
    case, seed = args.case, args.seed
    if args.file.endswith(".json"):
        from mock_wsk.scheduling import Decision, ReplayStrategy

        data = _replay_file(args.file)
        scenario_path = data["scenario"]
        if not Path(scenario_path).exists():
            beside = Path(args.file).parent / scenario_path
            scenario_path = str(beside) if beside.exists() else scenario_path
        case = case if case is not None else (data.get("case") or None)
        seed = seed if seed is not None else data.get("seed")
        decisions = [Decision(k, n, c) for k, n, c in data.get("decisions", [])]
        strategy = ReplayStrategy(decisions, preemptive=data.get("strategy", "random") != "fifo")
    scenario = _load_one(scenario_path, stub_roots, case, seed)
    if scenario is None:
        return EXIT_BAD_INPUT
    if strategy is not None:  # the explore settings the schedule was found with
        from harness.explore_section import with_explore_settings

        scenario = with_explore_settings(scenario, fail_allocations=data.get("fail_allocations"),
                                         jitter_ns=data.get("jitter_ns"))
    from mock_wsk.scheduling import ReplayDivergence

    try:
        result = _run_one(scenario, args.debug, strategy)
    except ScenarioError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ReplayDivergence as exc:  # the recorded schedule is not this scenario's (edited?)
        print(f"ERROR {args.file}:1: the replay does not match {scenario_path}: {exc}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    if result is None:
        return EXIT_FAILED
    print(story(result, args.max_lines))
    print()
    print(verdict_line(result))
    if not result.passed:
        print(failure_report(result))
    _write_outputs(args, [result], [], sys.stdout)
    if args.trace and result.trace is not None:
        from harness.render import jsonl_header, write_jsonl_trace

        out = AtomicFile(args.trace)
        write_jsonl_trace(result.trace, out.stream, jsonl_header(result))
        out.commit()
    return EXIT_OK if result.passed else EXIT_FAILED


def _load_one(path: Any, stub_roots: Sequence[Path], case: str | None,
              seed: int | None = None) -> Any:
    """Exactly one scenario case from ``path``, or None after printing why (bad input)."""
    loaded = load_all([path], stub_roots, case, seed)
    if loaded.errors:
        for error in loaded.errors:
            print(f"ERROR {error}", file=sys.stderr)
        return None
    if len(loaded.scenarios) > 1:
        ids = ", ".join(sc.case for sc in loaded.scenarios)
        print(f"ERROR {path}:1: the file has {len(loaded.scenarios)} matrix cases; "
              f"choose one with --case (cases: {ids})", file=sys.stderr)
        return None
    return loaded.scenarios[0]


def cmd_explore(args: argparse.Namespace) -> int:
    """Explore one scenario's schedules; exit 1 on a bug (unless its explore block expects
    that bug), 0 when clean, 2 on bad input."""
    from harness.explore import STRATEGIES, Progress, explore, finish_bugs, merge

    stub_roots = [Path(p) for p in args.stubs]
    scenario = _load_one(args.file, stub_roots, args.case)
    if scenario is None:
        return EXIT_BAD_INPUT
    if args.fail_allocations is not None or args.jitter is not None:
        from harness.explore_section import with_explore_settings

        scenario = with_explore_settings(scenario, fail_allocations=args.fail_allocations,
                                         jitter_ns=args.jitter)
    block = scenario.sections.get("explore")
    iterations = args.iterations or getattr(block, "iterations", None) or 1000
    strategy = args.strategy or getattr(block, "strategy", "random")
    seed = args.seed if args.seed is not None else getattr(block, "seed", 0)
    bound = args.bound if args.bound is not None else getattr(block, "bound", 2)
    depth = args.depth if args.depth is not None else getattr(block, "depth", 3)
    if strategy not in STRATEGIES or iterations < 1 or args.workers < 1 or \
            (strategy == "dfs" and args.workers != 1):
        print("ERROR --strategy must be one of " + ", ".join(STRATEGIES) + ", --iterations and "
              "--workers at least 1 (dfs runs in one worker)", file=sys.stderr)
        return EXIT_BAD_INPUT
    quiet = args.json

    def show(p: Progress) -> None:
        if not quiet:
            print(f"\r  {p.line()}", end="", file=sys.stderr, flush=True)

    # --workers splits the indices as pytest-xdist workers would (here one after the other):
    # the merged result is the same for every number of workers.
    shares = [explore(scenario, iterations, strategy, seed, depth=depth,
                      preemption_bound=bound, time_budget=args.time_budget, progress=show,
                      worker=w, workers=args.workers) for w in range(args.workers)]
    result = merge(shares)
    if not quiet:
        print(file=sys.stderr)
    finish_bugs(result, out_dir=args.out)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=1)
        print()
    else:
        print(result.summary())
        for bug in result.bugs:
            print()
            print(f"shrunk schedule of {bug.rule} at {bug.location}:")
            print(bug.story)
    if result.expect_bug is not None:
        unexpected = [b for b in result.bugs if b.rule != result.expect_bug]
        return EXIT_OK if result.found(result.expect_bug) and not unexpected else EXIT_FAILED
    return EXIT_FAILED if result.bugs else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import write_report, write_report_from_json
    from harness.results_doc import load_results_document

    path = args.results
    if Path(path).is_dir():
        path = str(Path(path) / "results.json")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"ERROR {path}:1: cannot read results: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    document = load_results_document(text, path)  # bad input: ScenarioError, exit 2
    if args.rerun:
        results = []
        for entry in document["results"]:
            loaded = load_all([str(entry.get("file"))], [Path(p) for p in args.stubs],
                              entry.get("case") or None, entry.get("seed"))
            for error in loaded.errors:
                print(f"ERROR {error}", file=sys.stderr)
            for scenario in loaded.scenarios:
                result = _run_one(scenario, args.debug)
                if result is not None:
                    results.append(result)
        index = write_report(results, Path(args.out), document.get("errors", []))
    else:
        index = write_report_from_json(document, Path(args.out))
    print(f"report: {index}")
    failed = document.get("failed", 0)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    from harness.scaffold import ScaffoldError, scaffold

    try:
        target = scaffold(args.name, args.stub, Path(args.dir), force=args.force,
                          stub_roots=[Path(p) for p in args.stubs])
    except ScaffoldError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"created {target}")
    print(f"run it:  python -m harness run {target}")
    return EXIT_OK


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


def cmd_docs(args: argparse.Namespace) -> int:
    from harness.docs import generate

    out = Path(args.out)
    documents = generate()
    stale = []
    for name, text in documents.items():
        target = out / name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        stale.append(str(target))
        if not args.check:
            out.mkdir(parents=True, exist_ok=True)
            write_atomic(target, text)
            print(f"wrote {target}")
    if args.check:
        for name in stale:
            print(f"out of date: {name} (regenerate with `python -m harness docs`)",
                  file=sys.stderr)
        return EXIT_FAILED if stale else EXIT_OK
    if not stale:
        print(f"{out}: up to date")
    return EXIT_OK


# ---------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m harness",
                     description="Run YAML scenarios against driver stubs on a mock WSK. "
                     "Exit status: 0 all passed, 1 a scenario failed, 2 bad input or usage.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def stubs_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--stubs", metavar="DIR", action="append", default=[],
                       help="an extra root to load driver stubs from (repeatable)")

    def debug_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--debug", action="store_true",
                       help="show the Python traceback of an internal error")

    run = sub.add_parser("run", help="run scenarios and report verdicts")
    run.add_argument("paths", nargs="+", help="scenario files or directories")
    run.add_argument("--json", action="store_true",
                     help="machine-readable results on stdout (progress goes to stderr)")
    run.add_argument("--seed", type=int, help="override every scenario's seed")
    run.add_argument("--case", metavar="ID", help="only matrix cases with this id (glob)")
    run.add_argument("--report", metavar="DIR",
                     help="write DIR/index.html and DIR/results.json")
    run.add_argument("--trace", metavar="FILE", help="write JSON-lines traces to FILE")
    run.add_argument("--perfetto", metavar="FILE", help="write a Chrome/Perfetto trace JSON")
    stubs_option(run)
    debug_option(run)
    run.set_defaults(fn=cmd_run)

    validate = sub.add_parser("validate", help="check scenario files without running them")
    validate.add_argument("paths", nargs="+")
    stubs_option(validate)
    validate.set_defaults(fn=cmd_validate)

    replay = sub.add_parser("replay", help="re-run one scenario and print its whole story")
    replay.add_argument("file", help="a scenario file, or a JSON replay file "
                        "{scenario, case, seed, strategy, decisions}")
    replay.add_argument("--seed", type=int, help="the seed to replay with")
    replay.add_argument("--case", metavar="ID", help="the matrix case to replay")
    replay.add_argument("--max-lines", type=int, default=2000, metavar="N",
                        help="longest story printed (around the first violation)")
    replay.add_argument("--report", metavar="DIR", help="also write an HTML report")
    replay.add_argument("--trace", metavar="FILE", help="also write the JSON-lines trace")
    replay.add_argument("--perfetto", metavar="FILE", help="also write a Perfetto trace")
    stubs_option(replay)
    debug_option(replay)
    replay.set_defaults(fn=cmd_replay)

    explore_ = sub.add_parser("explore", help="explore a scenario's schedules for races")
    explore_.add_argument("file", help="a scenario file")
    explore_.add_argument("--iterations", "-n", type=int, metavar="N",
                          help="schedules to run (default: the explore block's, else 1000)")
    explore_.add_argument("--strategy", choices=("random", "pct", "dfs"),
                          help="random walk, PCT, or bounded exhaustive (default random)")
    explore_.add_argument("--seed", type=int, help="base seed of the per-schedule seeds")
    explore_.add_argument("--bound", type=int, metavar="K", help="dfs preemption bound (2)")
    explore_.add_argument("--depth", type=int, metavar="D", help="pct bug depth (3)")
    explore_.add_argument("--case", metavar="ID", help="the matrix case to explore")
    explore_.add_argument("--fail-allocations", type=_count_arg, metavar="N",
                          help="each schedule may fail one of the driver's first N allocations "
                               "(pool, IRP, MDL): low resources, explored "
                               "(explore.fail_allocations)")
    explore_.add_argument("--jitter", type=_duration_arg, metavar="DURATION",
                          help="peer actions may fire up to this much later, e.g. 40us "
                               "(explore.jitter)")
    explore_.add_argument("--workers", type=int, default=1, metavar="W",
                          help="split the schedules into W deterministic shares (same result)")
    explore_.add_argument("--time-budget", type=float, metavar="SECONDS",
                          help="stop after this long (the result then depends on speed)")
    explore_.add_argument("--out", default="explore-out", metavar="DIR",
                          help="where replay files are written (default explore-out/)")
    explore_.add_argument("--json", action="store_true", help="machine-readable result")
    stubs_option(explore_)
    debug_option(explore_)
    explore_.set_defaults(fn=cmd_explore)

    report = sub.add_parser("report", help="re-render an HTML report from saved results")
    report.add_argument("results", help="results.json (or its report directory), or the "
                        "output of `run --json`")
    report.add_argument("--out", metavar="DIR", required=True, help="where to write index.html")
    report.add_argument("--rerun", action="store_true",
                        help="re-run the scenarios (same seeds) to draw timelines and plots")
    stubs_option(report)
    debug_option(report)
    report.set_defaults(fn=cmd_report)

    new = sub.add_parser("new", help="scaffold a scenario file from a template")
    new.add_argument("name", help="scenario name (also the file name)")
    new.add_argument("--stub", default="timer_counter", help="driver stub (default timer_counter)")
    new.add_argument("--dir", default=".", help="directory to create it in (default .)")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    stubs_option(new)
    new.set_defaults(fn=cmd_new)

    rules = sub.add_parser("rules", help="list the verifier's rules")
    rules.add_argument("--json", action="store_true")
    rules.set_defaults(fn=cmd_rules)
    sub.add_parser("schema", help="print the scenario JSON Schema").set_defaults(fn=cmd_schema)
    sub.add_parser("actions", help="list timeline actions").set_defaults(fn=cmd_actions)
    docs = sub.add_parser("docs", help="generate docs/scenario-reference.md, rules.md, "
                          "fidelity.md")
    docs.add_argument("--out", default="docs", help="directory (default docs)")
    docs.add_argument("--check", action="store_true",
                      help="only check that the files are up to date (exit 1 if not)")
    docs.set_defaults(fn=cmd_docs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except ScenarioError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_OK
