"""``python -m bench``: run every benchmark, print a table, write ``bench/results.json``.

Benchmarks are the functions named ``bench_*`` in every ``bench/*_bench.py`` module, in file
then definition order; each returns a result dict or a list of them (``name``, ``unit``,
``value``, and ``baseline``/``ratio`` when compared in the same run; other keys are kept).

Options: ``-k TEXT`` runs only benchmarks whose function or module name contains TEXT;
``-o PATH`` writes the results elsewhere; ``--quick`` asks the modules that support it (they read
``BENCH_QUICK``) for fewer events. Exit status 1 if a benchmark raised (its error is printed; the
others still run).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results.json"


def discover(selector: str | None = None) -> Iterator[tuple[str, Callable[[], Any]]]:
    for path in sorted(BENCH_DIR.glob("*_bench.py")):
        module = importlib.import_module(f"bench.{path.stem}")
        for name, obj in vars(module).items():
            if not (name.startswith("bench_") and callable(obj)):
                continue
            if getattr(obj, "__module__", None) != module.__name__:
                continue  # imported from elsewhere
            label = f"{path.stem}.{name}"
            if selector is None or selector in label:
                yield label, obj


def as_results(label: str, returned: Any) -> list[dict[str, Any]]:
    items = returned if isinstance(returned, list | tuple) else [returned]
    results = []
    for item in items:
        if not isinstance(item, dict) or not {"name", "unit", "value"} <= item.keys():
            raise TypeError(f"{label} returned {item!r}; expected a dict with name, unit, value")
        results.append(dict(item))
    return results


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value < 1000 else f"{value:,.0f}"
    return str(value)


def table(results: list[dict[str, Any]]) -> str:
    header = ("benchmark", "value", "unit", "baseline", "ratio", "target")
    rows = [header]
    for r in results:
        target = r.get("target_ratio")
        verdict = ""
        if target is not None and r.get("ratio") is not None:
            verdict = f"<= {target} " + ("ok" if r["ratio"] <= target else "MISSED")
        rows.append((r["name"], _fmt(r["value"]), r["unit"], _fmt(r.get("baseline")),
                     _fmt(r.get("ratio")), verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("-k", dest="selector", help="run only benchmarks whose name contains this")
    parser.add_argument("-o", dest="output", type=Path, default=RESULTS,
                        help=f"where to write the results (default {RESULTS})")
    parser.add_argument("--quick", action="store_true", help="fewer events, for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        os.environ["BENCH_QUICK"] = "1"  # modules that support it read it at run time

    results: list[dict[str, Any]] = []
    failed = False
    for label, fn in discover(args.selector):
        print(f"running {label} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            results.extend(as_results(label, fn()))
        except Exception:  # keep going: one broken benchmark must not hide the others
            failed = True
            traceback.print_exc()
        print(f"  {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)

    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    print(f"\nwrote {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
