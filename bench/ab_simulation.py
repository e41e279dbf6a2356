"""A/B statistics by simulation, and the throughput of the folds the agents call per event.

    python bench/ab_simulation.py [--sims 2000] [--events 10000] [--seed 1]

Every simulated test is looked at after every event once both arms have ``--burn-in`` values
(ABSpec.min_samples). The statistics are vectorised with numpy over tests and looks; before
counting, each vectorised statistic is checked against the library function on sampled looks.
Prints Markdown tables (docs/benchmarks.md, "A/B statistics").
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
from scipy import special

from tonebridge.stats import abtests as abtest
from tonebridge.stats import arms, decide, feedback, windows
from tonebridge.stats.arms import ArmObservation
from tonebridge.stats.moments import Moments
from tonebridge.stats.proportion import Proportion
from tonebridge.stats.sequential import sequential_binary, sequential_continuous
from tonebridge.stats.spec import ABSpec, ArmSpec, MetricSpec
from tonebridge.stats.srm import log_bayes_factor

ALPHA = 0.05
MIXTURE_SD = 0.1
SRM_ALPHA = 0.001
S = TypeVar("S")
X = TypeVar("X")
BLOCK = 200  # simulated tests per numpy block (memory: ~20 arrays of BLOCK x events)


@dataclass(frozen=True)
class Block:
    """Running per-arm sums of one block of simulated tests: shape (tests, events)."""

    n_c: np.ndarray
    n_t: np.ndarray
    sum_c: np.ndarray
    sum_t: np.ndarray
    sq_c: np.ndarray
    sq_t: np.ndarray


@dataclass(frozen=True)
class Outcome:
    sequential_hit: np.ndarray  # per test: rejected at some look
    sequential_at: np.ndarray  # per test: events seen at the first rejection (-1: never)
    naive_hit: np.ndarray
    fixed_hit: np.ndarray  # one z-test at the last event
    sequential_positive: np.ndarray  # the first rejection had a positive effect


def running(treated: np.ndarray, y: np.ndarray) -> Block:
    n_t = np.cumsum(treated, axis=1)
    n_c = np.arange(1, treated.shape[1] + 1) - n_t
    yt, yc = np.where(treated, y, 0.0), np.where(treated, 0.0, y)
    return Block(
        n_c, n_t, np.cumsum(yc, axis=1), np.cumsum(yt, axis=1),
        np.cumsum(yc * yc, axis=1), np.cumsum(yt * yt, axis=1),
    )  # fmt: skip


def mixture_log_lr(effect: np.ndarray, v_c: np.ndarray, v_t: np.ndarray, b: Block) -> np.ndarray:
    """tonebridge.stats.sequential.mixture_sprt, vectorised."""
    variance = v_c / b.n_c + v_t / b.n_t
    r = MIXTURE_SD**2 * 0.5 * (v_c + v_t) / variance
    log_lr: np.ndarray = 0.5 * (effect * effect / variance * r / (1.0 + r) - np.log1p(r))
    return log_lr


def binary_stats(b: Block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(effect, mSPRT log LR, naive pooled z) at every look."""
    rate_c, rate_t = b.sum_c / b.n_c, b.sum_t / b.n_t
    sm_c, sm_t = (b.sum_c + 0.5) / (b.n_c + 1.0), (b.sum_t + 0.5) / (b.n_t + 1.0)
    effect = rate_t - rate_c
    log_lr = mixture_log_lr(effect, sm_c * (1 - sm_c), sm_t * (1 - sm_t), b)
    pooled = (b.sum_c + b.sum_t) / (b.n_c + b.n_t)
    se = np.sqrt(pooled * (1 - pooled) * (1 / b.n_c + 1 / b.n_t))
    return effect, log_lr, np.divide(effect, se, out=np.zeros_like(se), where=se > 0)


def continuous_stats(b: Block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean_c, mean_t = b.sum_c / b.n_c, b.sum_t / b.n_t
    v_c = np.maximum(b.sq_c - b.n_c * mean_c**2, 0.0) / (b.n_c - 1)
    v_t = np.maximum(b.sq_t - b.n_t * mean_t**2, 0.0) / (b.n_t - 1)
    effect = mean_t - mean_c
    return effect, mixture_log_lr(effect, v_c, v_t, b), effect / np.sqrt(v_c / b.n_c + v_t / b.n_t)


def agree(what: str, library: float, vectorised: float) -> None:
    if not math.isclose(library, vectorised, rel_tol=1e-7, abs_tol=1e-7):
        msg = f"vectorised {what} {vectorised} differs from the library's {library}"
        raise RuntimeError(msg)


def library_log_lr(b: Block, i: int, j: int, binary: bool) -> float:
    n_c, n_t = int(b.n_c[i, j]), int(b.n_t[i, j])
    if binary:
        c, t = Proportion(round(b.sum_c[i, j]), n_c), Proportion(round(b.sum_t[i, j]), n_t)
        seq = sequential_binary(c, t, alpha=ALPHA, mixture_sd=MIXTURE_SD)
    else:
        mc, mt = (
            _moments(n_c, b.sum_c[i, j], b.sq_c[i, j]),
            _moments(n_t, b.sum_t[i, j], b.sq_t[i, j]),
        )
        seq = sequential_continuous(mc, mt, alpha=ALPHA, mixture_sd=MIXTURE_SD)
    return math.nan if seq is None else seq.log_lr


def _moments(n: int, total: float, squares: float) -> Moments:
    return Moments(n, total / n, max(squares - n * (total / n) ** 2, 0.0))


def check_against_library(
    b: Block, log_lr: np.ndarray, binary: bool, rng: np.random.Generator
) -> None:
    """The vectorised statistic must be the library's, at sampled looks."""
    rows, cols = np.nonzero(np.isfinite(log_lr) & (b.n_c >= 2) & (b.n_t >= 2))
    for k in rng.choice(rows.size, size=min(20, rows.size), replace=False):
        i, j = int(rows[k]), int(cols[k])
        agree("mSPRT log LR", library_log_lr(b, i, j, binary), float(log_lr[i, j]))


def outcome(b: Block, stats: tuple[np.ndarray, np.ndarray, np.ndarray], burn_in: int) -> Outcome:
    effect, log_lr, z = stats
    ready = (b.n_c >= burn_in) & (b.n_t >= burn_in)
    seq = ready & (log_lr > math.log(1 / ALPHA))
    z_crit = special.ndtri(1 - ALPHA / 2)
    first = np.where(seq.any(axis=1), seq.argmax(axis=1), -1)
    positive = np.take_along_axis(effect, np.maximum(first, 0)[:, None], axis=1)[:, 0] > 0
    return Outcome(
        np.asarray(seq.any(axis=1)), np.where(first >= 0, first + 1, -1),
        (ready & (np.abs(z) > z_crit)).any(axis=1), np.asarray(np.abs(z[:, -1]) > z_crit), positive,
    )  # fmt: skip


Draw = Callable[[np.random.Generator, np.ndarray], np.ndarray]


def simulate(draw: Draw, binary: bool, sims: int, events: int, burn_in: int, seed: int) -> Outcome:
    rng = np.random.default_rng(seed)
    parts = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, sims, BLOCK):
            treated = rng.random((min(BLOCK, sims - start), events)) < 0.5
            block = running(treated, draw(rng, treated))
            stats = binary_stats(block) if binary else continuous_stats(block)
            if start == 0:
                check_against_library(block, stats[1], binary, rng)
            parts.append(outcome(block, stats, burn_in))
    return Outcome(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Outcome.__dataclass_fields__)
    )


def row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def rate_and_se(hits: np.ndarray) -> str:
    p = float(hits.mean())
    return f"{p:.4f} ± {math.sqrt(p * (1 - p) / hits.size):.4f}"


def bernoulli(p_control: float, lift: float) -> Draw:
    return lambda rng, t: (rng.random(t.shape) < np.where(t, p_control + lift, p_control)).astype(
        float
    )


def normal(shift: float) -> Draw:
    return lambda rng, t: rng.normal(0.0, 1.0, t.shape) + np.where(t, shift, 0.0)


def lognormal(_: float = 0.0) -> Draw:
    return lambda rng, t: rng.lognormal(4.0, 0.8, t.shape)  # latency-like, skewed


def a_a_table(args: argparse.Namespace) -> Iterator[str]:
    yield (
        f"A/A: {args.sims} tests per row, {args.events} events each (arms 50/50), looked at after"
        f" every event from {args.burn_in} per arm on; alpha = {ALPHA}; rate ± Monte-Carlo SE.\n"
    )
    yield "| metric | always-valid mSPRT | naive z-test, every event | z-test once, at the end |"
    yield "|---|---|---|---|"
    rows = [("binary, p = 0.10", bernoulli(0.10, 0.0), True),
            ("continuous, normal", normal(0.0), False),
            ("continuous, lognormal (skewed)", lognormal(), False)]  # fmt: skip
    for k, (name, draw, binary) in enumerate(rows):
        o = simulate(draw, binary, args.sims, args.events, args.burn_in, args.seed + k)
        yield row(
            name, rate_and_se(o.sequential_hit), rate_and_se(o.naive_hit), rate_and_se(o.fixed_hit)
        )


def power_table(args: argparse.Namespace) -> Iterator[str]:
    sims = max(args.sims // 2, 100)
    yield (
        f"\nA/B: {sims} tests per row, {args.events} events at most; power = share decided"
        " (always-valid) within the horizon; events to decision counted over both arms.\n"
    )
    yield row(
        "metric", "effect", "power, mSPRT", "right sign", "mean / median events to decision",
        "power, z-test once at the end",
    )  # fmt: skip
    yield "|---|---|---|---|---|---|"
    rows = [
        (f"binary 0.10 -> {0.10 + d:.2f}", f"+{d:.2f}", bernoulli(0.10, d), True)
        for d in (0.01, 0.02, 0.03)
    ]
    rows += [("continuous normal, sd 1", f"+{d} sd", normal(d), False) for d in (0.05, 0.1, 0.2)]
    for k, (name, effect, draw, binary) in enumerate(rows):
        o = simulate(draw, binary, sims, args.events, args.burn_in, args.seed + 100 + k)
        at = o.sequential_at[o.sequential_hit]
        timing = f"{at.mean():.0f} / {np.median(at):.0f}" if at.size else "-"
        right = f"{o.sequential_positive[o.sequential_hit].mean():.3f}" if at.size else "-"
        yield row(
            name, effect, rate_and_se(o.sequential_hit), right, timing, rate_and_se(o.fixed_hit)
        )


def srm_log_bf(n_c: np.ndarray, n_t: np.ndarray, k: float = 100.0) -> np.ndarray:
    """tonebridge.stats.srm.log_bayes_factor for two arms of equal weight, vectorised."""
    n = n_c + n_t
    marginal = special.gammaln(k) - special.gammaln(k + n)
    marginal += (
        special.gammaln(k / 2 + n_c) + special.gammaln(k / 2 + n_t) - 2 * special.gammaln(k / 2)
    )
    log_bf: np.ndarray = marginal - n * math.log(0.5)
    return log_bf


def srm_rates(share: float, args: argparse.Namespace, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    seq_hits, chi_hits = [], []
    chi_crit = special.chdtri(1, SRM_ALPHA)
    for start in range(0, args.sims, BLOCK):
        n_t = np.cumsum(rng.random((min(BLOCK, args.sims - start), args.events)) < share, axis=1)
        n_c = np.arange(1, args.events + 1) - n_t
        log_bf = srm_log_bf(n_c, n_t)
        i, j = int(rng.integers(log_bf.shape[0])), int(rng.integers(args.events))
        library = log_bayes_factor([int(n_c[i, j]), int(n_t[i, j])], [0.5, 0.5])
        agree("SRM log Bayes factor", library, float(log_bf[i, j]))
        n = n_c + n_t
        chi2 = (n_c - n / 2) ** 2 / (n / 2) + (n_t - n / 2) ** 2 / (n / 2)
        seq_hits.append((log_bf > math.log(1 / SRM_ALPHA)).any(axis=1))
        chi_hits.append((chi2 > chi_crit).any(axis=1))
    return np.concatenate(seq_hits), np.concatenate(chi_hits)


def srm_table(args: argparse.Namespace) -> Iterator[str]:
    yield (
        "\nSample-ratio mismatch, configured 50/50, checked after every assignment,"
        f" threshold {SRM_ALPHA}:\n"
    )
    yield row("true treatment share", "sequential Dirichlet-multinomial", "chi-square, every look")
    yield "|---|---|---|"
    for k, share in enumerate((0.5, 0.48, 0.45)):
        seq, chi = srm_rates(share, args, args.seed + 200 + k)
        yield f"| {share:.2f} | {rate_and_se(seq)} | {rate_and_se(chi)} |"


def throughput(name: str, n: int, run: Callable[[], Any]) -> str:
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    return f"| {name} | {n / seconds:,.0f} |"


def fold_loop(add: Callable[[S, X], S], state: S, items: list[X]) -> Callable[[], S]:
    def run() -> S:
        s = state
        for item in items:
            s = add(s, item)
        return s

    return run


def batched(
    add_many: Callable[[S, list[X]], S], state: S, items: list[X], size: int
) -> Callable[[], S]:
    def run() -> S:
        s = state
        for start in range(0, len(items), size):
            s = add_many(s, items[start : start + size])
        return s

    return run


def feedback_records(n: int, rng: random.Random) -> list[dict[str, object]]:
    base = "Could you please send me the report when you have a moment? Thanks a lot."
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "event_time": start + timedelta(seconds=i * 2 + rng.randint(-300, 0)),
            "rating": rng.choice([None, 1, 2, 3, 4, 5]),
            "output_text": base,
            "corrected_text": rng.choice(
                [None, base, base.replace("please ", "")[: rng.randint(30, 70)]]
            ),
        }
        for i in range(n)
    ]


def ab_events(n: int, rng: random.Random) -> list[tuple[str, ArmObservation]]:
    return [
        (
            rng.choice("ab"),
            ArmObservation({"success": rng.random() < 0.2}, {"latency_ms": rng.gauss(200, 30)}),
        )
        for _ in range(n)
    ]


def throughput_table(n: int) -> Iterator[str]:
    rng = random.Random(7)
    records = feedback_records(n, rng)
    samples = [feedback.sample_from_record(r) for r in records]
    metrics = (MetricSpec("success", "binary"), MetricSpec("latency_ms", "continuous", False, True))
    spec = ABSpec("bench", (ArmSpec("a", "m1"), ArmSpec("b", "m2")), metrics)
    events = ab_events(n, rng)
    observations = [obs for _, obs in events]
    state = abtest.add_many(abtest.initial(spec), events)
    looks = max(n // 20, 1)
    yield f"\nThroughput on one core ({n:,} events; batches of 1,000 for add_many):\n"
    yield "| operation | per second |"
    yield "|---|---|"
    yield throughput(
        "feedback: sample_from_record (rapidfuzz edit distance)",
        n,
        lambda: [feedback.sample_from_record(r) for r in records],
    )
    yield throughput("feedback.add", n, fold_loop(feedback.add, feedback.initial(), samples))
    yield throughput(
        "feedback.add_many", n, batched(feedback.add_many, feedback.initial(), samples, 1000)
    )
    yield throughput(
        "windows.add (all-time + 1 h + 24 h)", n, fold_loop(windows.add, windows.initial(), samples)
    )
    yield throughput(
        "windows.add_many", n, batched(windows.add_many, windows.initial(), samples, 1000)
    )
    yield throughput(
        "arms.add (1 binary + 1 continuous metric)",
        n,
        fold_loop(arms.add, arms.initial(), observations),
    )
    yield throughput("arms.add_many", n, batched(arms.add_many, arms.initial(), observations, 1000))
    yield throughput(
        "abtest.add", n, fold_loop(lambda s, e: abtest.add(s, *e), abtest.initial(spec), events)
    )
    yield throughput(
        "abtest.add_many", n, batched(abtest.add_many, abtest.initial(spec), events, 1000)
    )
    yield throughput(
        "abtest.checkpoint (one look, 2 arms x 2 metrics)",
        looks,
        lambda: [abtest.checkpoint(spec, state) for _ in range(looks)],
    )
    yield throughput(
        "decide.evaluate (look + decision with reference tests)",
        looks,
        lambda: [decide.evaluate(spec, state) for _ in range(looks)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--burn-in", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--throughput-events", type=int, default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    for section in (
        a_a_table(args),
        power_table(args),
        srm_table(args),
        throughput_table(args.throughput_events),
    ):
        for line in section:
            print(line, flush=True)
    print(f"\n(ran in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
