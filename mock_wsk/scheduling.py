"""Scheduling strategies: who answers the machine's one decision point.

The machine owns the *mechanism* (which contexts are runnable, what a choice means); a strategy
owns the *policy* (which option to take). Every choice the simulation makes - which CPU steps
next at a preemption point, which CPU a woken thread lands on, the IRQL of a callback, inline or
pended completion - is one call to :meth:`Strategy.choose`, so a seed, or a recorded decision
list, replays a run byte for byte.

Options are always ordered with the "natural" choice first, so index 0 is the deterministic,
uneventful answer the ``fifo`` strategy gives.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from typing import NamedTuple


class Decision(NamedTuple):
    """One answered question, as recorded for replay: what was asked, how many options, which.

    A named tuple rather than a frozen dataclass: the machine records one per non-trivial
    decision, thousands per second when exploring, and a tuple is built in a third of the
    time."""

    kind: str
    options: int
    choice: int


class ReplayDivergence(BaseException):
    """A replayed run asked a different question than the recorded one at the same step.

    A BaseException, like KeyboardInterrupt: it is raised inside the run (at the decision
    point, in driver code) but is the replay's error, not the driver's - so neither the
    machine's unhandled-exception bug check nor a stub's ``except Exception`` takes it, and
    it reaches whoever runs the replay."""


class Strategy:
    """Base class. ``preemptive`` strategies are asked at every preemption point (DDI call)."""

    name = "base"
    preemptive = False

    def choose(self, kind: str, options: Sequence[Hashable]) -> int:
        raise NotImplementedError  # pragma: no cover - abstract

    def describe(self) -> dict[str, object]:
        return {"strategy": self.name}


class FifoStrategy(Strategy):
    """Deterministic run-to-block: the current context runs until it waits or ends."""

    name = "fifo"
    preemptive = False

    def choose(self, kind: str, options: Sequence[Hashable]) -> int:
        return 0


class RandomStrategy(Strategy):
    """A seeded random walk over every decision, preempting at every DDI call."""

    name = "random"
    preemptive = True

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self._getrandbits = self._rng.getrandbits

    def choose(self, kind: str, options: Sequence[Hashable]) -> int:
        # randrange(n) for n > 0 is random.Random._randbelow_with_getrandbits(n), inlined here
        # (the same draws, so the same schedules) without randrange's argument checks and two
        # Python calls: this runs at every decision.
        n = len(options)
        if not n:
            raise ValueError("no options to choose from")  # the loop would never end
        k = n.bit_length()
        getrandbits = self._getrandbits
        r = getrandbits(k)
        while r >= n:
            r = getrandbits(k)
        return r

    def describe(self) -> dict[str, object]:
        return {"strategy": self.name, "seed": self.seed}


_BELOW_ALL = float("-inf")  # below every PCT priority


class PctStrategy(Strategy):
    """Probabilistic Concurrency Testing (Burckhardt et al., ASPLOS 2010).

    Each schedulable entity gets a random priority when first seen; the highest-priority runnable
    one always runs. At ``depth - 1`` randomly chosen steps the running entity's priority drops
    below every initial priority. A bug of depth ``d`` is found with probability at least
    ``1 / (n * k^(d-1))`` per run. Decisions other than scheduling are taken at random.
    """

    name = "pct"
    preemptive = True

    def __init__(self, seed: int = 0, depth: int = 3, expected_steps: int = 200) -> None:
        if depth < 1:
            raise ValueError("PCT depth must be at least 1")
        self.seed = seed
        self.depth = depth
        self._rng = random.Random(seed)
        self._priorities: dict[Hashable, int] = {}
        self._next_low = depth - 1  # lowered priorities count down from here, below initial ones
        steps = max(expected_steps, depth)
        self._change_points = set(self._rng.sample(range(1, steps + 1), depth - 1))
        self._step = 0

    def _priority(self, key: Hashable) -> int:
        prio = self._priorities.get(key)
        if prio is None:
            # Initial priorities lie above every lowered one (lowered ones are < depth).
            prio = self.depth + self._rng.randrange(1 << 30)
            self._priorities[key] = prio
        return prio

    def _highest(self, options: Sequence[Hashable]) -> int:
        """The index of the highest-priority option, the first one on a tie (as ``max``).
        Unseen options get their priority in option order: the order of the random draws."""
        if not options:
            raise ValueError("no options to choose from")  # as max() of nothing would
        priorities = self._priorities
        best = 0
        best_prio: float = _BELOW_ALL
        for i, key in enumerate(options):
            prio = priorities.get(key)
            if prio is None:
                prio = self._priority(key)
            if prio > best_prio:
                best, best_prio = i, prio
        return best

    def choose(self, kind: str, options: Sequence[Hashable]) -> int:
        if kind != "schedule":
            return self._rng.randrange(len(options))
        self._step += 1
        best = self._highest(options)
        if self._step in self._change_points:
            self._priorities[options[best]] = self._next_low
            self._next_low -= 1
            best = self._highest(options)
        return best

    def describe(self) -> dict[str, object]:
        return {"strategy": self.name, "seed": self.seed, "depth": self.depth}


class ReplayStrategy(Strategy):
    """Answers with a recorded decision list; past its end, falls back to ``fifo`` answers."""

    name = "replay"

    def __init__(self, decisions: Sequence[Decision], preemptive: bool = True) -> None:
        self.decisions = list(decisions)
        self.preemptive = preemptive
        self._index = 0

    def choose(self, kind: str, options: Sequence[Hashable]) -> int:
        if self._index >= len(self.decisions):
            return 0
        recorded = self.decisions[self._index]
        if recorded.kind != kind or recorded.options != len(options):
            raise ReplayDivergence(
                f"decision {self._index}: recorded {recorded.kind}/{recorded.options}, "
                f"asked {kind}/{len(options)}"
            )
        self._index += 1
        return recorded.choice

    @property
    def exhausted(self) -> bool:
        return self._index >= len(self.decisions)


def make_strategy(name: str, seed: int = 0, **options: int) -> Strategy:
    """Build a strategy by its scenario/CLI name."""
    if name == "fifo":
        return FifoStrategy()
    if name == "random":
        return RandomStrategy(seed)
    if name == "pct":
        return PctStrategy(seed, **options)
    raise ValueError(f"unknown scheduling strategy {name!r}; expected fifo, random or pct")


STRATEGY_NAMES = ("fifo", "random", "pct")
