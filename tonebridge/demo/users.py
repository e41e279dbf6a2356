"""Simulated users: how a rewrite's real quality becomes a rating, an acceptance, a correction.

Quality is the sentence chrF (0-100) of the model's rewrite against the synthetic task's
target, the rewrite a user wanted. A user's rating follows quality linearly from 1 (nothing
like it) to 5 (exactly it), plus Gaussian noise: people disagree. A user accepts a rewrite
they rate highly and corrects, to the target, some of those they rate low. Pure: the
randomness comes from the caller's ``random.Random``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from sacrebleu.metrics.chrf import CHRF


@dataclass(frozen=True, slots=True)
class UserModel:
    noise_sd: float = 0.5  # rating points
    accept_from: int = 4  # success: the user took the rewrite as it was
    correct_up_to: int = 2  # ratings this low may come with a correction...
    correct_probability: float = 0.7  # ...this often
    feedback_probability: float = 0.6  # share of requests whose user leaves feedback


@dataclass(frozen=True, slots=True)
class Reaction:
    quality: float  # sentence chrF of the rewrite against the target
    rating: int
    success: bool
    gives_feedback: bool
    corrects: bool


@cache
def _chrf() -> CHRF:
    return CHRF()


def quality(output_text: str, target_text: str) -> float:
    """Sentence chrF of a rewrite against the wanted one, 0 (unrelated) to 100 (identical)."""
    return float(_chrf().sentence_score(output_text, [target_text]).score)


def rating_from_quality(chrf: float, noise: float = 0.0) -> int:
    """1 + 4 x chrF/100, moved by ``noise``, rounded and clamped to 1..5."""
    raw = 1.0 + 4.0 * min(max(chrf, 0.0), 100.0) / 100.0 + noise
    return min(5, max(1, round(raw)))


def react(user: UserModel, chrf: float, rng: random.Random) -> Reaction:
    """One user's reaction to a rewrite of quality ``chrf``."""
    rating = rating_from_quality(chrf, rng.gauss(0.0, user.noise_sd))
    feedback = rng.random() < user.feedback_probability
    corrects = feedback and rating <= user.correct_up_to and rng.random() < user.correct_probability
    return Reaction(chrf, rating, rating >= user.accept_from, feedback, corrects)
