"""A synthetic, learnable tone-rewriting task: casual messages and their rewrites.

Three intents (request, decline, reminder) are written casually from templates and
rewritten in three tones. The mapping is deterministic given the input and the tone, so
a small model can learn it; the casual noise (``pls``, ``thx``) maps to nothing. Inputs
are split between train and held-out sets, so no held-out input is ever trained on.
Everything is deterministic by seed; nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache

from tonebridge.handlers.methods.examples import (
    LabeledRewrite,
    PreferenceExample,
    RatedRewrite,
    RewriteExample,
)

TONES = ("polite", "formal", "friendly")

# (casual, formal infinitive, gerund)
_VERBS = (
    ("send", "send", "sending"),
    ("fix", "fix", "fixing"),
    ("check", "review", "reviewing"),
    ("update", "update", "updating"),
    ("finish", "complete", "completing"),
    ("share", "share", "sharing"),
    ("print", "print", "printing"),
    ("sign", "sign", "signing"),
)
_OBJECTS = (
    ("it", "it"),
    ("the report", "the report"),
    ("that doc", "the document"),
    ("the deck", "the presentation"),
    ("ur notes", "your notes"),
    ("the numbers", "the figures"),
    ("the invoice", "the invoice"),
    ("the form", "the form"),
)
# (casual, polite/friendly, formal)
_WHEN = (
    ("asap", "when you have a moment", "at your earliest convenience"),
    ("today", "today", "by the end of today"),
    ("by tmrw", "by tomorrow", "by tomorrow"),
    ("rn", "now", "immediately"),
)
_OPENERS = ("", "pls ", "hey ")
_CLOSERS = ("", " thx", " ok?")
_TIMES = (
    ("tmrw", "tomorrow"),
    ("tonight", "tonight"),
    ("on fri", "on Friday"),
    ("to the mtg", "to the meeting"),
    ("today", "today"),
    ("to lunch", "to lunch"),
)
_DECLINES = ("cant make it {t}", "cant come {t}", "not coming {t} sry")
_THINGS = (
    ("the mtg", "the meeting"),
    ("ur badge", "your badge"),
    ("the slides", "the slides"),
    ("the deadline", "the deadline"),
    ("the call at 3", "the call at 3"),
    ("the rent", "the rent"),
)
_REMINDERS = ("dont forget {o}", "remember {o}", "{o}!! dont forget")


@dataclass(frozen=True, slots=True)
class SyntheticSplit:
    train: list[RewriteExample]
    held_out: list[RewriteExample]


def _requests() -> Iterator[tuple[str, dict[str, str]]]:
    for (verb, formal, gerund), (obj, obj_f), (when, when_p, when_f) in itertools.product(
        _VERBS, _OBJECTS, _WHEN
    ):
        targets = {
            "polite": f"Could you please {formal} {obj_f} {when_p}? Thank you!",
            "formal": f"Kindly {formal} {obj_f} {when_f}.",
            "friendly": f"Hi! Would you mind {gerund} {obj_f} {when_p}? Thanks a lot!",
        }
        for opener, closer in itertools.product(_OPENERS, _CLOSERS):
            yield f"{opener}{verb} {obj} {when}{closer}", targets


def _declines() -> Iterator[tuple[str, dict[str, str]]]:
    for (time, time_f), template in itertools.product(_TIMES, _DECLINES):
        yield (
            template.format(t=time),
            {
                "polite": f"I'm sorry, but I won't be able to make it {time_f}.",
                "formal": f"I regret to inform you that I will be unable to attend {time_f}.",
                "friendly": f"So sorry, I can't make it {time_f}! Maybe next time?",
            },
        )


def _reminders() -> Iterator[tuple[str, dict[str, str]]]:
    for (thing, thing_f), template in itertools.product(_THINGS, _REMINDERS):
        yield (
            template.format(o=thing),
            {
                "polite": f"Just a gentle reminder about {thing_f}.",
                "formal": f"Please be reminded of {thing_f}.",
                "friendly": f"Hey, just a quick reminder about {thing_f}!",
            },
        )


def all_rewrites(tones: Sequence[str] = TONES) -> list[RewriteExample]:
    """Every (input, tone) pair the grammar produces, in a fixed order."""
    sources = itertools.chain(_requests(), _declines(), _reminders())
    return [
        RewriteExample(text, targets[tone], tone) for text, targets in sources for tone in tones
    ]


def _held_out(input_text: str, seed: int, fraction: float) -> bool:
    digest = hashlib.sha256(f"{seed}:{input_text}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def rewrite_split(
    n_train: int, n_held_out: int, *, seed: int = 0, held_out_fraction: float = 0.2
) -> SyntheticSplit:
    """``n_train`` and ``n_held_out`` rewrites; no input text appears in both sets."""
    train: list[RewriteExample] = []
    held_out: list[RewriteExample] = []
    for example in all_rewrites():
        bucket = held_out if _held_out(example.input_text, seed, held_out_fraction) else train
        bucket.append(example)
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    rng.shuffle(train)
    rng.shuffle(held_out)
    return SyntheticSplit(train=train[:n_train], held_out=held_out[:n_held_out])


def _wrong_rewrites(example: RewriteExample) -> list[str]:
    """Bad rewrites of the example: the casual text echoed, or another tone's rewrite."""
    others = [
        other.target_text
        for other in _rewrites_by_input().get(example.input_text, ())
        if other.transformation_type != example.transformation_type
    ]
    return [example.input_text, *others]


@cache
def _rewrites_by_input() -> dict[str, tuple[RewriteExample, ...]]:
    groups: dict[str, list[RewriteExample]] = {}
    for example in all_rewrites():
        groups.setdefault(example.input_text, []).append(example)
    return {text: tuple(group) for text, group in groups.items()}


def preference_pairs(
    examples: Sequence[RewriteExample], *, seed: int = 0
) -> list[PreferenceExample]:
    """DPO rows: the right rewrite is chosen over a wrong one (echo or wrong tone)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    return [
        PreferenceExample(
            ex.input_text, ex.transformation_type, ex.target_text, rng.choice(_wrong_rewrites(ex))
        )
        for ex in examples
    ]


def labeled_rewrites(examples: Sequence[RewriteExample], *, seed: int = 0) -> list[LabeledRewrite]:
    """KTO rows: alternately the right rewrite (desirable) and a wrong one (undesirable)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    rows = []
    for index, ex in enumerate(examples):
        good = index % 2 == 0
        text = ex.target_text if good else rng.choice(_wrong_rewrites(ex))
        rows.append(LabeledRewrite(ex.input_text, ex.transformation_type, text, good))
    return rows


def rated_rewrites(examples: Sequence[RewriteExample], *, seed: int = 0) -> list[RatedRewrite]:
    """Ratings as users would give them: right rewrite 5, wrong tone 2, echoed input 1."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    rows = []
    for ex in examples:
        wrong = rng.choice(_wrong_rewrites(ex)[1:] or [ex.input_text])
        rows.append(RatedRewrite(ex.input_text, ex.transformation_type, ex.target_text, 5.0))
        rows.append(RatedRewrite(ex.input_text, ex.transformation_type, wrong, 2.0))
        rows.append(RatedRewrite(ex.input_text, ex.transformation_type, ex.input_text, 1.0))
    return rows


def corpus_sentences() -> list[str]:
    """Plain sentences of the task's language (inputs and rewrites), without prompts."""
    sentences = {ex.input_text for ex in all_rewrites()}
    sentences.update(ex.target_text for ex in all_rewrites())
    return sorted(sentences)
