"""Simulated users: ratings follow the rewrite's measured quality."""

from __future__ import annotations

import random
import statistics

import pytest

from tonebridge.demo.users import UserModel, quality, rating_from_quality, react


def test_quality_is_sentence_chrf_against_the_target() -> None:
    target = "Kindly review the form at your earliest convenience."
    assert quality(target, target) == pytest.approx(100.0)
    assert quality("y.", target) < 5.0
    near = quality("Kindly review the report at your earliest convenience.", target)
    assert 70.0 < near < 100.0


@pytest.mark.parametrize(
    ("chrf", "noise", "rating"),
    [(0.0, 0.0, 1), (100.0, 0.0, 5), (50.0, 0.0, 3), (80.0, 0.0, 4), (90.0, 2.0, 5),
     (10.0, -3.0, 1), (-5.0, 0.0, 1), (250.0, 0.0, 5), (45.0, 0.4, 3)],
)  # fmt: skip
def test_ratings_are_linear_in_quality_and_clamped(chrf: float, noise: float, rating: int) -> None:
    assert rating_from_quality(chrf, noise) == rating


def reactions(chrf: float, n: int = 4000, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    return [react(UserModel(), chrf, rng).rating for _ in range(n)]


def test_better_rewrites_get_better_ratings_on_average() -> None:
    low, mid, high = (statistics.mean(reactions(q)) for q in (2.0, 50.0, 95.0))
    assert low < 1.3 < 2.7 < mid < 3.3 < 4.5 < high


def test_low_ratings_come_with_corrections_and_high_ones_with_success() -> None:
    rng = random.Random(3)
    user = UserModel(feedback_probability=1.0, correct_probability=1.0)
    bad = [react(user, 1.0, rng) for _ in range(200)]
    good = [react(user, 100.0, rng) for _ in range(200)]
    assert all(r.corrects and not r.success for r in bad)
    assert all(r.success and not r.corrects for r in good)


def test_only_users_who_leave_feedback_correct() -> None:
    rng = random.Random(5)
    user = UserModel(feedback_probability=0.3, correct_probability=1.0)
    seen = [react(user, 1.0, rng) for _ in range(2000)]
    assert all(r.gives_feedback for r in seen if r.corrects)
    share = sum(r.gives_feedback for r in seen) / len(seen)
    assert 0.25 < share < 0.35
