"""Simulations with fixed seeds: checked after every event, the product's decision keeps its
false-positive rate (mSPRT, and the horizon-aware test) while a naive z-test does not, and a
real effect is found.

The rates come from ``bench/ab_engine.py``, the decision path vectorised over tests; it is
checked here against ``abtest.add`` -> ``decide.evaluate`` on every look of whole tests.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench import ab_engine as engine
from bench import ab_peers as peers
from bench.ab_peers import Scenario

ALPHA = 0.05
SIMULATIONS = 1000
HORIZON = 1000  # per arm


def ceiling(rate: float, runs: int) -> float:
    """Rate plus two Monte-Carlo standard errors."""
    return rate + 2.0 * math.sqrt(rate * (1.0 - rate) / runs)


def rates(scenario: Scenario, seed: int) -> dict[str, float]:
    tallies, checked = peers.simulate(scenario, HORIZON, SIMULATIONS, seed, naive=True, check=3)
    assert checked >= 3 * HORIZON  # three whole tests, every look compared
    return {m: float(np.concatenate(t.decided).mean()) for m, t in tallies.items()}


@pytest.mark.parametrize(
    ("scenario", "seed"),
    [
        (Scenario("binary", peers.bernoulli(0.2), True), 20240601),
        (Scenario("normal", lambda rng, t: rng.normal(5.0, 2.0, t.shape), False), 20240602),
        (Scenario("80/20", peers.bernoulli(0.1), True, (4.0, 1.0)), 20240604),
    ],
)
def test_a_a_checked_after_every_event(scenario: Scenario, seed: int) -> None:
    found = rates(scenario, seed)
    assert found["horizon-aware"] <= ceiling(ALPHA, SIMULATIONS)
    assert found["mSPRT (today)"] <= ceiling(ALPHA, SIMULATIONS)
    assert found["naive"] > ceiling(ALPHA, SIMULATIONS) + 0.1  # about 0.3


def test_the_vectorised_path_is_the_products_on_a_real_effect() -> None:
    rng = np.random.default_rng(20240605)
    spec = engine.spec_for(True, max_samples=600)
    treated = rng.random((4, 1400)) < 0.5
    success = (rng.random(treated.shape) < np.where(treated, 0.25, 0.15)).astype(float)
    assert engine.check_every_look(spec, treated, success, True, 4) > 1000
    with np.errstate(divide="ignore", invalid="ignore"):
        decided = engine.decisions(engine.running(treated, success), True, spec)
    assert (decided.kind == engine.TREATMENT_WINS).sum() >= 3


def test_a_real_effect_is_detected() -> None:
    tallies, _ = peers.simulate(Scenario("+0.06", peers.bernoulli(0.10, 0.06), True), 2500, 200, 3)
    for method in ("horizon-aware", "mSPRT (today)"):
        assert np.concatenate(tallies[method].decided).mean() >= 0.9
        assert np.concatenate(tallies[method].up).mean() >= 0.9


def test_cuped_keeps_the_rate_and_adds_power() -> None:
    null, checked = peers.cuped_rates(0.7, 0.0, HORIZON, SIMULATIONS, 20240606, check=2)
    assert checked >= 2 * HORIZON  # the CUPED path, every look compared
    assert np.concatenate(null["CUPED"].decided).mean() <= ceiling(ALPHA, SIMULATIONS)
    real, _ = peers.cuped_rates(0.7, 0.1, HORIZON, 300, 20240607)
    plain, adjusted = (np.concatenate(real[m].decided).mean() for m in ("plain", "CUPED"))
    assert adjusted > plain + 0.15  # variance halved: about 0.55 -> 0.85


@pytest.mark.parametrize("binary", [True, False])
def test_the_vectorised_msprt_is_the_products_without_a_horizon(binary: bool) -> None:
    rng = np.random.default_rng(20240608)
    treated = rng.random((3, 1500)) < 0.5
    y = rng.random(treated.shape) < 0.2 if binary else rng.lognormal(4.0, 1.0, treated.shape)
    spec = engine.spec_for(binary)
    assert spec.horizon is None
    assert engine.check_every_look(spec, treated, y.astype(float), binary, 3) >= 1500
