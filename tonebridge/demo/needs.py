"""What the simulated users ask for, round by round (``tonebridge demo --rounds N``) (pure).

With one round the users ask for every tone, as they always did. With more, their needs
shift: in round 1 they ask for the first tones only (:data:`OLD_TONES`); from round 2 on a
new tone (:data:`NEW_TONE`) is as common as the old ones together. The held-out requests
(never served) are split the same way, so each round's model is scored on the old requests
and on the new ones: a continued retraining should gain on the new without losing the old.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

OLD_TONES = ("polite", "formal")
NEW_TONE = "friendly"


@dataclass(frozen=True, slots=True)
class Request:
    input_text: str
    tone: str
    target: str  # what the user wanted: their correction when they correct


@dataclass(frozen=True)
class Needs:
    """The requests the app serves in each round, and the held-out ones, old and new."""

    served: tuple[list[Request], ...]  # one list per round
    held_out_old: list[Request]
    held_out_new: list[Request]

    @property
    def held_out(self) -> list[Request]:
        return self.held_out_old + self.held_out_new

    def for_round(self, number: int) -> list[Request]:
        """What round ``number`` (from 1) serves; the last list once the shift is done."""
        return self.served[min(number, len(self.served)) - 1]


def _request(example: Any) -> Request:
    return Request(example.input_text, example.transformation_type, example.target_text)


def synthetic_requests(
    pool_size: int, held_out_size: int, seed: int
) -> tuple[list[Request], list[Request]]:
    """Requests of every tone the app serves, and held-out ones no user ever sends."""
    from tonebridge.handlers.methods.synthetic import rewrite_split

    split = rewrite_split(pool_size, held_out_size, seed=seed)
    return [_request(e) for e in split.train], [_request(e) for e in split.held_out]


def needs(pool_size: int, held_out_size: int, seed: int, rounds: int) -> Needs:
    """One round: every tone, as before. More: round 1 the old tones, then the new one too."""
    if rounds <= 1:
        served, held_out = synthetic_requests(pool_size, held_out_size, seed)
        old, new = _by_tone(held_out)
        return Needs((served,), old, new)
    everything, held_out = synthetic_requests(10**6, 10**6, seed)
    old, new = _by_tone(everything)
    held_old, held_new = _by_tone(held_out)
    first, shifted = old[:pool_size], old[:pool_size] + new[:pool_size]
    return Needs((first, shifted), held_old[:held_out_size], held_new[:held_out_size])


def _by_tone(requests: Sequence[Request]) -> tuple[list[Request], list[Request]]:
    """(old tones, new tone)."""
    old = [r for r in requests if r.tone in OLD_TONES]
    return old, [r for r in requests if r.tone == NEW_TONE]
