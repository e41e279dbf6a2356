"""A/B decisions by simulation: false positives, power and events to a decision, side by side.

Every simulated test is looked at after every event, up to a horizon of ``h`` per arm (the
smallest arm's count; the test then ends as no_difference). On the same data:

- the horizon-aware test: the product's decision with ``max_samples = h``;
- today's mSPRT: the product's decision as it was before it used the horizon;
- GrowthBook's sequential test (absolute difference; tuning = expected total sample 2 h);
- the z-test once at the horizon (valid only if nobody looks early);
- a naive z-test at every look (A/A only: why looking early needs an always-valid test).

The first two come from :mod:`bench.ab_engine`, whose vectorised decisions are checked against
``abtest.add`` -> ``decide.evaluate`` on every look of the first tests of every row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from scipy import special

from bench import ab_engine as engine
from bench.ab_engine import NEVER, TREATMENT_WINS, Sums
from tonebridge.stats import abtests as abtest
from tonebridge.stats import decide
from tonebridge.stats.arms import ArmObservation
from tonebridge.stats.spec import ABSpec, ArmSpec, MetricSpec

ALPHA = 0.05
BLOCK = 100  # tests per numpy block

Draw = Callable[[np.random.Generator, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Scenario:
    name: str
    draw: Draw
    binary: bool
    weights: tuple[float, float] = (1.0, 1.0)


@dataclass
class Tally:
    """Per method: decided, events at the decision, and the treatment won; one per test."""

    decided: list[np.ndarray]
    at: list[np.ndarray]
    up: list[np.ndarray]

    def add(self, decided: np.ndarray, at: np.ndarray, up: np.ndarray) -> None:
        self.decided.append(decided)
        self.at.append(np.where(decided, at + 1, NEVER))
        self.up.append(up & decided)

    def rate(self) -> str:
        hits = np.concatenate(self.decided)
        p = float(hits.mean())
        return f"{p:.3f} ± {math.sqrt(p * (1 - p) / hits.size):.3f}"

    def events(self) -> str:
        at = np.concatenate(self.at)
        at = at[at != NEVER]
        if not at.size:
            return "-"
        return (
            f"{at.mean():,.0f} ± {at.std(ddof=1) / math.sqrt(at.size) if at.size > 1 else 0:,.0f}"
        )

    def right_sign(self) -> str:
        decided = np.concatenate(self.decided)
        return f"{np.concatenate(self.up)[decided].mean():.3f}" if decided.any() else "-"


METHODS = ("horizon-aware", "mSPRT (today)", "GrowthBook sequential", "z-test once at h")


def bernoulli(p: float, lift: float = 0.0) -> Draw:
    return lambda rng, t: (rng.random(t.shape) < np.where(t, p + lift, p)).astype(float)


def normal(shift: float = 0.0) -> Draw:
    return lambda rng, t: rng.normal(0.0, 1.0, t.shape) + np.where(t, shift, 0.0)


def lognormal(_: float = 0.0) -> Draw:
    return lambda rng, t: rng.lognormal(4.0, 1.0, t.shape)  # latency-like, heavy right tail


def ratings(lift: float = 0.0) -> Draw:
    shares = np.array([0.1, 0.1, 0.2, 0.3, 0.3])
    return lambda rng, t: rng.choice(np.arange(1.0, 6.0), t.shape, p=shares) + np.where(t, lift, 0)


def events_for(scenario: Scenario, horizon: int) -> int:
    smallest = min(scenario.weights) / sum(scenario.weights)
    return math.ceil(horizon / smallest * 1.05) + 200


def within(s: Sums, horizon: int) -> np.ndarray:
    """Looks up to and including the one where the smallest arm reaches the horizon."""
    end = engine.first(np.minimum(s.n_c, s.n_t) >= horizon)
    end = np.where(end == NEVER, s.n_c.shape[1] - 1, end)
    return np.arange(s.n_c.shape[1])[None, :] <= end[:, None]


def _product(tally: Tally, d: engine.Decisions) -> None:
    winner = (d.kind == engine.TREATMENT_WINS) | (d.kind == engine.CONTROL_WINS)
    tally.add(winner, d.at, d.kind == TREATMENT_WINS)


def _first_hit(tally: Tally, mask: np.ndarray, effect: np.ndarray) -> None:
    at = engine.first(mask)
    up = np.take_along_axis(effect, np.maximum(at, 0)[:, None], axis=1)[:, 0] > 0
    tally.add(at != NEVER, at, up)


def naive_z(s: Sums, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    effect, v_c, v_t = engine.inputs(s, binary)
    z = effect / np.sqrt(v_c / s.n_c + v_t / s.n_t)
    return np.abs(z) > special.ndtri(1 - ALPHA / 2), effect


def block_outcomes(
    s: Sums, scenario: Scenario, spec: ABSpec, tallies: dict[str, Tally], naive: bool
) -> None:
    binary, horizon = scenario.binary, spec.max_samples or 0
    _product(tallies[METHODS[0]], engine.decisions(s, binary, spec))
    _product(tallies[METHODS[1]], engine.decisions(s, binary, spec, horizon=False))
    ready = within(s, horizon) & (np.minimum(s.n_c, s.n_t) >= spec.min_samples)
    gb = np.minimum.accumulate(engine.growthbook_p(s, binary, ALPHA, 2.0 * horizon), axis=1)
    effect = engine.inputs(s, binary)[0]
    _first_hit(tallies[METHODS[2]], ready & (gb < ALPHA), effect)
    rejected, at_h = engine.z_at_horizon(s, binary, ALPHA, horizon)
    end = engine.first(np.minimum(s.n_c, s.n_t) >= horizon)
    tallies[METHODS[3]].add(rejected, end, at_h > 0)
    if naive:
        hit, _ = naive_z(s, binary)
        _first_hit(tallies["naive"], ready & hit, effect)


def simulate(
    scenario: Scenario, horizon: int, sims: int, seed: int, *, naive: bool = False, check: int = 0
) -> tuple[dict[str, Tally], int]:
    """Every method's tally over ``sims`` tests; ``check`` tests of the first block are also
    run through the product's path (every look compared). Returns (tallies, looks checked)."""
    rng = np.random.default_rng(seed)
    spec = engine.spec_for(scenario.binary, scenario.weights, max_samples=horizon)
    tallies = {m: Tally([], [], []) for m in (*METHODS, "naive")}
    share_t = scenario.weights[1] / sum(scenario.weights)
    checked = 0
    for start in range(0, sims, BLOCK):
        treated = rng.random((min(BLOCK, sims - start), events_for(scenario, horizon))) < share_t
        y = scenario.draw(rng, treated)
        if start == 0 and check:
            checked = engine.check_every_look(spec, treated, y, scenario.binary, check)
        with np.errstate(divide="ignore", invalid="ignore"):
            block_outcomes(engine.running(treated, y), scenario, spec, tallies, naive)
    return tallies, checked


def row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


A_A = (
    Scenario("binary, rare: p = 0.02", bernoulli(0.02), True),
    Scenario("binary, common: p = 0.10", bernoulli(0.10), True),
    Scenario("binary p = 0.10, 80/20 split", bernoulli(0.10), True, (4.0, 1.0)),
    Scenario("continuous, normal", normal(), False),
    Scenario("continuous, lognormal (heavy tail)", lognormal(), False),
    Scenario("ratings 1-5", ratings(), False),
)


def a_a_table(sims: int, horizon: int, check: int, seed: int) -> Iterator[str]:
    yield (
        f"A/A: {sims} tests per row, looked at after every event until the smallest arm has"
        f" {horizon:,} (burn-in 100 per arm); alpha = {ALPHA}; a false positive is a winner"
        " verdict; rate ± Monte-Carlo SE.\n"
    )
    yield row("scenario", *METHODS, "naive z, every look", "looks checked on the product path")
    yield "|---|---|---|---|---|---|---|"
    for k, scenario in enumerate(A_A):
        tallies, checked = simulate(scenario, horizon, sims, seed + k, naive=True, check=check)
        rates = [tallies[m].rate() for m in (*METHODS, "naive")]
        yield row(scenario.name, *rates, f"{checked:,}")


POWER = (
    Scenario("binary 0.10 -> 0.12", bernoulli(0.10, 0.02), True),
    Scenario("binary 0.10 -> 0.13", bernoulli(0.10, 0.03), True),
    Scenario("continuous normal, +0.05 sd", normal(0.05), False),
)


def power_table(sims: int, horizon: int, seed: int) -> Iterator[str]:
    yield (
        f"\nA/B: {sims} tests per row, at most {horizon:,} per arm; power = share with a winner"
        " verdict; events (both arms) at the decision: mean ± SE over the decided tests.\n"
    )
    yield row("scenario", "method", "power", "right sign", "events to a decision")
    yield "|---|---|---|---|---|"
    for k, scenario in enumerate(POWER):
        tallies, _ = simulate(scenario, horizon, sims, seed + 100 + k)
        for m in METHODS:
            t = tallies[m]
            yield row(scenario.name, m, t.rate(), t.right_sign(), t.events())


def cuped_rates(
    rho: float, lift: float, horizon: int, sims: int, seed: int, check: int = 0
) -> tuple[dict[str, Tally], int]:
    """Normal outcomes correlated ``rho`` with a pre-exposure covariate: the horizon-aware
    test on the plain metric and CUPED-adjusted, on the same tests."""
    rng = np.random.default_rng(seed)
    plain = engine.spec_for(False, max_samples=horizon)
    adjusted = engine.spec_for(False, max_samples=horizon, covariate="prior")
    tallies = {m: Tally([], [], []) for m in ("plain", "CUPED")}
    events = events_for(Scenario("", normal(), False), horizon)
    checked = 0
    for start in range(0, sims, BLOCK):
        treated = rng.random((min(BLOCK, sims - start), events)) < 0.5
        x = rng.normal(3.0, 1.0, treated.shape)  # e.g. the user's mean rating before the test
        noise = rng.normal(0.0, math.sqrt(1.0 - rho * rho), treated.shape)
        y = rho * (x - 3.0) + noise + np.where(treated, lift, 0.0)
        if start == 0 and check:
            checked = engine.check_every_look(adjusted, treated, y, False, check, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            _product(tallies["plain"], engine.decisions(engine.running(treated, y), False, plain))
            s = engine.running(treated, y, x)
            _product(tallies["CUPED"], engine.decisions(s, False, adjusted))
    return tallies, checked


def cuped_table(sims: int, horizon: int, check: int, seed: int) -> Iterator[str]:
    yield (
        f"\nCUPED: normal outcomes (sd 1) whose correlation with a pre-exposure covariate is"
        f" rho; horizon-aware test, {horizon:,} per arm, {sims} tests per cell; A/A rate and"
        " power at +0.05 sd.\n"
    )
    yield row("rho", "A/A, plain", "A/A, CUPED", "power, plain", "power, CUPED",
              "events to a decision, plain / CUPED", "looks checked")  # fmt: skip
    yield "|---|---|---|---|---|---|---|"
    for k, rho in enumerate((0.0, 0.3, 0.5, 0.7)):
        null, checked = cuped_rates(rho, 0.0, horizon, sims, seed + 300 + k, check)
        real, _ = cuped_rates(rho, 0.05, horizon, sims, seed + 400 + k)
        events = f"{real['plain'].events()} / {real['CUPED'].events()}"
        yield row(f"{rho:.1f}", null["plain"].rate(), null["CUPED"].rate(),
                  real["plain"].rate(), real["CUPED"].rate(), events, f"{checked:,}")  # fmt: skip


def _product_test(
    spec: ABSpec, rng: np.random.Generator, horizon: int, every: int
) -> tuple[str, int]:
    """One A/A test through ``abtest.add_many`` and ``decide.evaluate`` only, looked at after
    every batch of ``every`` events until a final decision or the horizon: (kind, events)."""
    ids = [a.arm_id for a in spec.arms]
    guard = [m.name for m in spec.metrics if m.kind == "continuous"]
    state, seen = abtest.initial(spec), 0
    while True:
        arms_now = rng.choice(ids, every)
        success = rng.random(every) < 0.10
        latency = rng.lognormal(4.0, 1.0, every)
        batch = [
            (str(a), ArmObservation({"success": bool(s)}, {g: float(x) for g in guard}))
            for a, s, x in zip(arms_now, success, latency, strict=True)
        ]
        state, decision = decide.evaluate(spec, abtest.add_many(state, batch))
        seen += every
        if decision.is_final:
            return decision.kind, seen
        if spec.max_samples is None and min(decision.samples.values()) >= horizon:
            return "no_difference", seen


def _rate(hits: np.ndarray) -> str:
    p = float(hits.mean())
    return f"{p:.3f} ± {math.sqrt(p * (1 - p) / hits.size):.3f}"


def product_table(sims: int, horizon: int, every: int, seed: int) -> Iterator[str]:
    """Scenarios the vectorised engine does not cover, on the product's path alone."""
    yield (
        f"\nA/A on the product's path alone (no re-implementation): {sims} tests per cell,"
        f" looked at after every batch of {every} events, up to {horizon:,} per arm; the rate"
        " of each final verdict (primaries and guardrails are separate families, each at"
        " alpha).\n"
    )
    yield row("scenario", "test", "winner", "guardrail_violation", "sample_ratio_mismatch")
    yield "|---|---|---|---|---|"
    three = (ArmSpec("a", "m-a"), ArmSpec("b", "m-b"), ArmSpec("c", "m-c"))
    guard = (MetricSpec("success", "binary"), MetricSpec("latency", "continuous", False, True))
    cases = [("three arms, binary p = 0.10, Holm", three, guard[:1]),
             ("success + latency guardrail (lognormal)", three[:2], guard)]  # fmt: skip
    for k, (name, arms, metrics) in enumerate(cases):
        for test, cap in (("horizon-aware", horizon), ("mSPRT (today)", None)):
            rng = np.random.default_rng(seed + 500 + k)
            spec = ABSpec("aa", arms, metrics, max_samples=cap)
            kinds = np.array([_product_test(spec, rng, horizon, every)[0] for _ in range(sims)])
            rates = [_rate(kinds == kind) for kind in KINDS_SHOWN]
            yield row(name, test, *rates)


KINDS_SHOWN = ("winner", "guardrail_violation", "sample_ratio_mismatch")
