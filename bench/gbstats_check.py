"""Checks bench/ab_engine.py's transcription of GrowthBook's sequential test against gbstats.

gbstats' releases with the sequential test (0.7.0, 0.8.0) require numpy < 2 and pandas < 2,
so they cannot sit in the project's environment (numpy 2). This script imports only gbstats
and the standard library and runs in an environment of its own; the cases, with the
transcription's outputs, are written by bench/gbstats_cases.py in the project's environment:

    PYTHONPATH=. python bench/gbstats_cases.py gbstats_cases.json
    python3.11 -m venv gbvenv
    gbvenv/bin/pip install gbstats==0.8.0
    gbvenv/bin/python bench/gbstats_check.py gbstats_cases.json

For every case, gbstats' SequentialTwoSidedTTest (absolute difference, the case's alpha and
tuning parameter) on a ProportionStatistic (binary) or SampleMeanStatistic (continuous) per
arm, through ``compute_result`` as GrowthBook reports it: the p-value and the confidence
sequence must equal the transcription's within the tolerance, and the decision (p < alpha)
must agree, as must gbstats' own CI excluding 0. Exits 1 on any disagreement.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import gbstats
from gbstats.frequentist.tests import SequentialConfig, SequentialTwoSidedTTest
from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic

VERSION = "0.8.0"


def statistic(binary: bool, arm: list[float]) -> ProportionStatistic | SampleMeanStatistic:
    n, total, squares = arm
    if binary:
        return ProportionStatistic(n=int(n), sum=total)
    return SampleMeanStatistic(n=int(n), sum=total, sum_squares=squares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", help="JSON written by bench/gbstats_cases.py")
    parser.add_argument("--tolerance", type=float, default=1e-9, help="relative, and absolute")
    args = parser.parse_args()
    if gbstats.__version__ != VERSION:
        sys.exit(f"gbstats {gbstats.__version__} installed; this check pins {VERSION}")
    with open(args.cases) as f:
        cases = json.load(f)["cases"]
    worst_p = worst_ci = worst_rel = 0.0
    disagree: list[str] = []
    rejected = degenerate = 0
    for k, c in enumerate(cases):
        config = SequentialConfig(
            alpha=c["alpha"],
            sequential_tuning_parameter=c["tuning"],
            difference_type="absolute",
        )
        test = SequentialTwoSidedTTest(
            statistic(c["binary"], c["control"]), statistic(c["binary"], c["treatment"]), config
        )
        result = test.compute_result()
        gb_p, gb_ci = float(result.p_value), [float(v) for v in result.ci]
        degenerate += result.error_message is not None
        d_p = abs(gb_p - c["p"])
        d_ci = max(abs(a - b) for a, b in zip(gb_ci, c["ci"], strict=True))
        scale = max(1.0, *(abs(v) for v in gb_ci))
        worst_p, worst_ci = max(worst_p, d_p), max(worst_ci, d_ci)
        worst_rel = max(worst_rel, d_ci / scale)
        decision, ours = gb_p < c["alpha"], c["p"] < c["alpha"]
        excludes_zero = gb_ci[0] > 0 or gb_ci[1] < 0
        rejected += decision
        problems = []
        if d_p > args.tolerance or d_ci / scale > args.tolerance or not math.isfinite(d_ci):
            problems.append(f"p {gb_p!r} vs {c['p']!r}, ci {gb_ci} vs {c['ci']}")
        if decision != ours or excludes_zero != decision:
            problems.append(f"rejects: gbstats {decision} (CI off 0: {excludes_zero}), ours {ours}")
        if problems:
            arms = f"{c['control']} / {c['treatment']}"
            disagree.append(f"case {k} ({c['name']}, {arms}): " + "; ".join(problems))
    print(f"gbstats {gbstats.__version__}: {len(cases)} cases ({rejected} rejected at alpha,"
          f" {degenerate} uninformative outputs)")  # fmt: skip
    print(f"max |p difference| = {worst_p:.3g}; max |CI bound difference| = {worst_ci:.3g}"
          f" (relative to max(1, |bound|): {worst_rel:.3g})")  # fmt: skip
    for line in disagree[:20]:
        print(line)
    print(f"{len(disagree)} of {len(cases)} cases disagree")
    sys.exit(1 if disagree else 0)


if __name__ == "__main__":
    main()
