"""Cases for bench/gbstats_check.py: the GrowthBook transcription's p-values and confidence
sequences, with the raw per-arm counts and sums that gbstats needs to compute the same.

    PYTHONPATH=. python bench/gbstats_cases.py cases.json [--seed 1]

Runs in the project's environment (numpy 2). The looks come from tests simulated as
bench/ab_peers.py simulates them (the same draws, splits and running sums, so the
transcription sees exactly what the benchmark gives it), at fixed sizes of the smallest arm
and at random looks, plus hand-made edge cases (an arm with no successes, a constant arm).
bench/gbstats_check.py then recomputes every case with gbstats itself, in its own environment.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from bench import ab_engine as engine
from bench import ab_peers as peers
from bench.ab_engine import Sums

# (name, draw, binary, weights): the A/A and power scenarios of the benchmark, and larger
# effects so that many looks reject.
SCENARIOS = (
    ("binary p = 0.02", peers.bernoulli(0.02), True, (1.0, 1.0)),
    ("binary p = 0.10", peers.bernoulli(0.10), True, (1.0, 1.0)),
    ("binary p = 0.10, 80/20", peers.bernoulli(0.10), True, (4.0, 1.0)),
    ("binary 0.10 -> 0.12", peers.bernoulli(0.10, 0.02), True, (1.0, 1.0)),
    ("binary 0.10 -> 0.13", peers.bernoulli(0.10, 0.03), True, (1.0, 1.0)),
    ("binary 0.10 -> 0.15", peers.bernoulli(0.10, 0.05), True, (1.0, 1.0)),
    ("normal", peers.normal(), False, (1.0, 1.0)),
    ("normal +0.05 sd", peers.normal(0.05), False, (1.0, 1.0)),
    ("normal +0.2 sd", peers.normal(0.2), False, (1.0, 1.0)),
    ("lognormal", peers.lognormal(), False, (1.0, 1.0)),
    ("ratings 1-5", peers.ratings(), False, (1.0, 1.0)),
    ("ratings 1-5 +0.1", peers.ratings(0.1), False, (1.0, 1.0)),
)
# (alpha, tuning): the benchmark's (tuning = expected total sample, 2 x 5,000), and others.
SETTINGS = ((0.05, 10_000.0), (0.05, 5_000.0), (0.01, 2_000.0))
SIZES = (10, 30, 100, 200, 500, 1000, 2000, 5000)  # of the smallest arm
TESTS, RANDOM_LOOKS, HORIZON = 4, 15, 5000


def _case(
    name: str, binary: bool, arms: tuple[float, ...], s: Sums, look: tuple[int, int]
) -> list[dict[str, Any]]:
    """One look of one test, under every setting; ``arms`` = (n, sum, sum of squares) of the
    control then the treatment, unshifted, for gbstats."""
    i, j = look
    fields = ("n_c", "n_t", "sum_c", "sum_t", "sq_c", "sq_t")
    one = Sums(*(getattr(s, f)[i : i + 1, j : j + 1] for f in fields), s.shift[i : i + 1])
    out = []
    for alpha, tuning in SETTINGS:
        p = engine.growthbook_p(one, binary, alpha, tuning)[0, 0]
        lower, upper = engine.growthbook_ci(one, binary, alpha, tuning)
        out.append(
            {
                "name": name,
                "binary": binary,
                "alpha": alpha,
                "tuning": tuning,
                "control": list(arms[:3]),
                "treatment": list(arms[3:]),
                "p": float(p),
                "ci": [float(lower[0, 0]), float(upper[0, 0])],
            }
        )
    return out


def simulated(seed: int) -> Iterator[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    for name, draw, binary, weights in SCENARIOS:
        scenario = peers.Scenario(name, draw, binary, weights)
        share_t = weights[1] / sum(weights)
        treated = rng.random((TESTS, peers.events_for(scenario, HORIZON))) < share_t
        y = draw(rng, treated)
        s = engine.running(treated, y)
        sq_c, sq_t = engine._split(treated, y * y)  # unshifted, for gbstats
        smallest = np.minimum(s.n_c, s.n_t)
        for i in range(TESTS):
            looks = [int(np.argmax(smallest[i] >= n)) for n in SIZES]
            burnt_in = int(np.argmax(smallest[i] >= 100))
            looks += list(rng.integers(burnt_in, y.shape[1], RANDOM_LOOKS))
            for j in looks:
                control = (int(s.n_c[i, j]), float(s.sum_c[i, j]), float(sq_c[i, j]))
                treatment = (int(s.n_t[i, j]), float(s.sum_t[i, j]), float(sq_t[i, j]))
                arms = (*control, *treatment)
                yield from _case(name, binary, arms, s, (i, int(j)))


def edges() -> Iterator[dict[str, Any]]:
    """Arms given as (n, sum, sum of squares): no successes, all successes, a constant value."""
    binary = (
        ((100, 0, 0), (100, 8, 8)),  # the control has no success
        ((100, 9, 9), (100, 0, 0)),  # the treatment has none
        ((120, 0, 0), (110, 0, 0)),
        ((100, 100, 100), (100, 90, 90)),  # every control event succeeded
        ((5000, 500, 500), (5000, 500, 500)),  # no difference
        ((3, 1, 1), (2, 1, 1)),
    )
    continuous = (
        ((100, 300.0, 900.0), (100, 310.0, 1000.0)),  # a constant control (3.0 each)
        ((100, 0.0, 50.0), (100, 20.0, 60.0)),  # a control mean of 0
        ((2, 1.0, 0.5), (2, 3.0, 5.0)),
    )
    for is_binary, cases in ((True, binary), (False, continuous)):
        for (n_c, x_c, q_c), (n_t, x_t, q_t) in cases:
            s = Sums(*(np.array([[float(v)]]) for v in (n_c, n_t, x_c, x_t, q_c, q_t, 0.0)))
            arms = (n_c, float(x_c), float(q_c), n_t, float(x_t), float(q_t))
            yield from _case("edge", is_binary, arms, s, (0, 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="JSON file to write")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with np.errstate(divide="ignore", invalid="ignore"):
        cases = [*simulated(args.seed), *edges()]
    with open(args.out, "w") as f:
        json.dump({"cases": cases}, f)
    print(f"{len(cases)} cases written to {args.out}")


if __name__ == "__main__":
    main()
