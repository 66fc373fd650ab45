"""Instructions per unit of work, counted by valgrind's callgrind: how optimisations are judged
on a shared machine whose wall-clock figures move by 5-15 % between runs (callgrind's own counts
move by about 1-2 %).

    python -m bench.instructions dpc floor simpy rx send explore kexplore

Each kind runs twice under callgrind, at two lengths; the difference of the two counts over the
difference of the units cancels start-up (imports, building the machine). Needs ``valgrind`` on
PATH and takes a few minutes; not part of ``make bench``.

Kinds: ``dpc`` a traced timer DPC (``kernel.dpc_dispatch``), ``floor`` the traced-DPC floor,
``simpy`` SimPy's timeout event, ``rx`` a WskReceiveEvent delivery
(``wsk.receive_event_dispatch``), ``send`` a WskSend round trip (``flow.wsksend_roundtrip``),
``explore``/``kexplore`` a schedule of the WSK/kernel race (``explore.race_schedules``,
``explore.kernel_race_schedules``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Callable

ROOT_ARGS = ["-m", "bench.instructions", "--work"]


def _explore(which: str) -> Callable[[int], object]:
    def run(n: int) -> object:
        from bench.explore_bench import KERNEL_RACE, RACE, _race
        from harness.explore import explore

        return explore(_race(KERNEL_RACE if which == "kexplore" else RACE), n, "random", seed=0)
    return run


def _send(n_ms: int) -> object:
    from bench.flow_wsk_bench import _MS, _S, _inline_run

    return _inline_run(80, 1 * _S, n_ms * _MS)


def _kernel(name: str) -> Callable[[int], object]:
    def run(n: int) -> object:
        from bench import kernel_bench

        return getattr(kernel_bench, name)(n)
    return run


def _rx(n: int) -> object:
    from bench.wsk_bench import machine_receive_events

    return machine_receive_events(n, True)


# kind: (the work, short length, long length, units between the two)
# A WskSend run's length is virtual milliseconds: 2,000 ms of 1 Gb/s x 40 ms with 64 KiB sends
# complete 3,814 sends in steady state.
KINDS: dict[str, tuple[Callable[[int], object], int, int, int]] = {
    "dpc": (_kernel("machine_dpc_dispatch"), 20_000, 60_000, 40_000),
    "floor": (_kernel("traced_dpc_floor"), 20_000, 60_000, 40_000),
    "simpy": (_kernel("simpy_timeouts"), 20_000, 60_000, 40_000),
    "rx": (_rx, 5_000, 15_000, 10_000),
    "send": (_send, 1_000, 3_000, 3_814),
    "explore": (_explore("explore"), 100, 300, 200),
    "kexplore": (_explore("kexplore"), 100, 300, 200),
}


def count(kind: str, length: int) -> int:
    """Instructions of one run of ``kind`` at ``length`` under callgrind."""
    process = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         *ROOT_ARGS, kind, str(length)],
        capture_output=True, text=True, check=True)
    match = re.search(r"Collected : (\d+)", process.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count from callgrind:\n{process.stderr[-2000:]}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("kinds", nargs="*", metavar="KIND",
                        help="any of: " + ", ".join(KINDS) + " (default: all)")
    parser.add_argument("--work", nargs=2, metavar=("KIND", "LENGTH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.work:  # the measured process itself
        kind, length = args.work
        KINDS[kind][0](int(length))
        return 0
    unknown = [k for k in args.kinds if k not in KINDS]
    if unknown:
        parser.error(f"unknown kind {unknown[0]!r}; expected any of: " + ", ".join(KINDS))
    if shutil.which("valgrind") is None:
        print("valgrind is not on PATH", file=sys.stderr)
        return 2
    for kind in args.kinds or KINDS:
        _, short, long, units = KINDS[kind]
        per_unit = (count(kind, long) - count(kind, short)) / units
        print(f"{kind:9} {per_unit:12,.0f} instructions per unit", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
