"""The ``explore:`` scenario section: how ``pytest``/``run`` explore a scenario's schedules.

::

    explore:
      iterations: 2000          # schedules (default 1000)
      strategy: random          # random (default) | pct | dfs
      seed: 1                   # base of the per-schedule seeds (default 0)
      depth: 3                  # pct bug depth
      bound: 2                  # dfs preemption bound
      expect_bug: pool.use_after_free   # the race a known-bad driver must show, or null
      shards: 4                 # pytest items the iterations split over (default 1)
      jitter: 40us              # peer actions may fire this much later (default 0)
      fail_allocations: 8       # one of the driver's first 8 allocations may fail (default 0)

With ``expect_bug`` the item passes when exploration finds that rule (and no other bug); with
``null`` (the default) every schedule must be clean - the reference drivers' promise.

With ``shards: K`` pytest collects K items, shard ``i`` exploring the indices ``i mod K`` with
the same per-index seeds; ``expect_bug`` is then judged on the shards' merged bugs at session end.

With ``jitter: J`` every peer action of the timeline (``peer_connect``, ``peer_send``...) fires
0, J/4, J/2 or J later, each delay a decision of its own (asked in timeline order before the run
starts), so a peer's timing relative to the driver's timers is explored too; fifo answers 0, so
a plain run keeps the written times, and a replay file reproduces the delays.

With ``fail_allocations: N`` each schedule may fail one of the driver's first N allocations (pool
blocks, IRPs and MDLs counted together; the DDI returns NULL, as under Driver Verifier's low
resources simulation): which one, or none, is one decision among N + 1 answers asked before the
run starts, so random exploration spreads the failure over the N allocation sites, dfs tries
each in turn, and fifo answers none.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from harness.compose import error_at
from harness.scenario import section_loader
from harness.suggest import did_you_mean
from harness.units import parse_duration

DEFAULT_ITERATIONS = 1000


@dataclass(frozen=True, slots=True)
class ExploreSettings:
    iterations: int = DEFAULT_ITERATIONS
    strategy: str = "random"
    seed: int = 0
    depth: int = 3
    bound: int = 2
    expect_bug: str | None = None
    shards: int = 1
    jitter_ns: int = 0
    fail_allocations: int = 0
    line: int = 1


@section_loader("explore")
def load_explore(path: str, section: Any) -> ExploreSettings:
    from mock_wsk.rules import all_rule_ids

    expect_bug = section.get("expect_bug")
    if expect_bug is not None:
        known = all_rule_ids()
        if expect_bug not in known:
            hint = did_you_mean(expect_bug, known)
            raise error_at(path, section, "expect_bug", f"unknown rule id {expect_bug!r}",
                           hint=f"did you mean {hint!r}?" if hint else
                           "see `python -m harness rules`")
    strategy = section.get("strategy", "random")
    shards = section.get("shards", 1)
    if shards > 1 and strategy == "dfs":
        # dfs walks one tree in order: its indices cannot be split by residue.
        raise error_at(path, section, "shards", "dfs exploration cannot be sharded",
                       hint="use strategy random or pct, or shards: 1")
    try:
        jitter_ns = parse_duration(section.get("jitter", 0))
    except ValueError as exc:
        raise error_at(path, section, "jitter", str(exc)) from None
    position = getattr(section, "position", None)
    return ExploreSettings(
        iterations=section.get("iterations", DEFAULT_ITERATIONS),
        strategy=strategy,
        seed=section.get("seed", 0),
        depth=section.get("depth", 3),
        bound=section.get("bound", 2),
        expect_bug=expect_bug,
        shards=shards,
        jitter_ns=jitter_ns,
        fail_allocations=section.get("fail_allocations", 0),
        line=getattr(position, "line", None) or 1,
    )


def with_explore_settings(scenario: Any, *, fail_allocations: int | None = None,
                          jitter_ns: int | None = None) -> Any:
    """``scenario`` with these explore settings in place of its block's (None: kept): how the
    command line explores with allocation failures or jitter the file does not ask for, and how
    a replay file made so brings them back."""
    block = scenario.sections.get("explore") or ExploreSettings()
    changes: dict[str, int] = {}
    if fail_allocations is not None and fail_allocations != block.fail_allocations:
        changes["fail_allocations"] = fail_allocations
    if jitter_ns is not None and jitter_ns != block.jitter_ns:
        changes["jitter_ns"] = jitter_ns
    if not changes:
        return scenario
    sections = {**scenario.sections, "explore": dataclasses.replace(block, **changes)}
    return dataclasses.replace(scenario, sections=sections)
