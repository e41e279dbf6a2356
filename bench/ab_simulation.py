"""A/B statistics by simulation, and the throughput of the folds the agents call per event.

    python bench/ab_simulation.py [--sims 1000] [--horizon 5000] [--check 20] [--seed 1]
        [--sections aa,power,cuped,product,srm,throughput]

The decision tables (A/A, power side by side with the peers, CUPED) come from
:mod:`bench.ab_peers`: the product's decision after every event, vectorised over tests by
:mod:`bench.ab_engine` and checked against ``abtest.add`` -> ``decide.evaluate`` on every look
of the first ``--check`` tests of every row; ``product`` runs scenarios the engine does not
cover (three arms, a guardrail) on the product's path alone, looking after every batch. The
SRM table is vectorised and checked on sampled looks. Prints Markdown tables
(docs/benchmarks.md, "A/B statistics").
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
from scipy import special

from bench import ab_peers
from tonebridge.stats import abtests as abtest
from tonebridge.stats import arms, decide, feedback, windows
from tonebridge.stats.arms import ArmObservation
from tonebridge.stats.spec import ABSpec, ArmSpec, MetricSpec
from tonebridge.stats.srm import log_bayes_factor

ALPHA = 0.05
MIXTURE_SD = 0.1
SRM_ALPHA = 0.001
S = TypeVar("S")
X = TypeVar("X")
BLOCK = 200  # simulated tests per numpy block (memory: ~20 arrays of BLOCK x events)


def agree(what: str, library: float, vectorised: float) -> None:
    if not math.isclose(library, vectorised, rel_tol=1e-7, abs_tol=1e-7):
        msg = f"vectorised {what} {vectorised} differs from the library's {library}"
        raise RuntimeError(msg)


def row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def rate_and_se(hits: np.ndarray) -> str:
    p = float(hits.mean())
    return f"{p:.4f} ± {math.sqrt(p * (1 - p) / hits.size):.4f}"


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


SECTIONS: dict[str, Callable[[argparse.Namespace], Iterator[str]]] = {
    "aa": lambda a: ab_peers.a_a_table(a.sims, a.horizon, a.check, a.seed),
    "power": lambda a: ab_peers.power_table(a.sims, a.horizon, a.seed),
    "cuped": lambda a: ab_peers.cuped_table(a.sims, a.horizon, a.check, a.seed),
    "product": lambda a: ab_peers.product_table(a.sims, a.product_horizon, a.product_every, a.seed),
    "srm": srm_table,
    "throughput": lambda a: throughput_table(a.throughput_events),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--horizon", type=int, default=5000, help="per arm")
    parser.add_argument("--check", type=int, default=20, help="tests per row on the product path")
    parser.add_argument("--events", type=int, default=10_000, help="per SRM simulation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--throughput-events", type=int, default=100_000)
    parser.add_argument("--product-horizon", type=int, default=1000, help="product-only table")
    parser.add_argument("--product-every", type=int, default=20, help="events between looks")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated")
    args = parser.parse_args()
    started = time.perf_counter()
    for name in args.sections.split(","):
        for line in SECTIONS[name](args):
            print(line, flush=True)
    print(f"\n(ran in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
