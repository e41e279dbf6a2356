from __future__ import annotations

import json

from tests.support.agents import feedback
from tonebridge import rules
from tonebridge.decisions import model_feedback
from tonebridge.decisions.model_feedback import ModelFeedback
from tonebridge.decisions.retraining import parse_policies
from tonebridge.settings import Settings
from tonebridge.stats.feedback import make_sample, sample_from_record

RULES = parse_policies({"policies": [{"name": "fix", "kind": "min_corrections", "threshold": 3}]})


def samples(*records: dict[str, object]) -> list[tuple[str, object]]:
    return [(str(r["transformation_type"]), sample_from_record(r)) for r in records]


def test_a_message_is_applied_once() -> None:
    once = model_feedback.fold(ModelFeedback(), samples(feedback(n=1)), "fb:0", 7)
    again = model_feedback.fold(once, samples(feedback(n=1)), "fb:0", 7)
    assert again is once
    assert once.overall.all_time.count == 1
    assert model_feedback.fold(once, samples(feedback(n=2)), "fb:0", 8).overall.all_time.count == 2


def test_windows_settled_later_equal_windows_folded_at_once() -> None:
    first, second = samples(feedback(n=1, kind="formal")), samples(feedback(n=2, kind="casual"))
    eager = model_feedback.fold(ModelFeedback(), first, "fb:0", 1)
    eager = model_feedback.fold(eager, second, "fb:0", 2)
    lazy = model_feedback.fold(ModelFeedback(), first, "fb:0", 1, windows_too=False)
    lazy = model_feedback.fold(lazy, second, "fb:0", 2, windows_too=False)
    assert lazy.overall.all_time.count == 0
    assert model_feedback.settle(lazy, first + second).to_json() == eager.to_json()


def test_the_value_survives_its_changelog_encoding() -> None:
    state = model_feedback.fold(ModelFeedback(), samples(feedback(n=1)), "fb:0", 1)
    state, _ = model_feedback.apply_policies("model-a", state, RULES)
    assert ModelFeedback.from_json(state.to_json()) == state


def test_the_value_survives_its_encoding_with_any_text_and_fractional_sums() -> None:
    """Types are the client's text (non-ASCII allowed), edit distances sum to any float."""
    records = [
        feedback(n=n, kind=kind, corrected=fix)
        for n, (kind, fix) in enumerate(
            [("fórmal", "Fïxed, ok."), ("日本語", "x"), ("fórmal", None)]
        )
    ]
    state = model_feedback.fold(ModelFeedback(), samples(*records), "fb:0", 1)
    assert ModelFeedback.from_json(state.to_json()) == state
    assert json.loads(state.to_json())["by_type"].keys() == {"fórmal", "日本語"}


def test_a_trigger_restarts_the_count_since_the_last_training() -> None:
    state = ModelFeedback()
    fired_at = []
    for n in range(7):
        record = feedback(n=n, corrected="Send it soon, please.")
        state = model_feedback.fold(state, samples(record), "fb:0", n)
        state, fired = model_feedback.apply_policies("model-a", state, RULES, with_windows=False)
        fired_at += [(n, f.since_ms, f.trigger.window) for f in fired]
    assert [n for n, _, _ in fired_at] == [2, 5]  # every third correction
    first_since, second_since = fired_at[0][1], fired_at[1][1]
    assert fired_at[1][2] == f"since:{second_since}" and second_since > first_since
    assert state.since is not None and state.since.corrected == 1


def test_summary_has_every_window_per_model_and_type() -> None:
    state = model_feedback.fold(
        ModelFeedback(), samples(feedback(n=1, rating=2), feedback(n=2, kind="casual")), "fb:0", 1
    )
    summary = model_feedback.summary(state)
    assert summary["overall"]["all_time"]["count"] == 2
    assert summary["overall"]["last_hour"]["mean_rating"] == 3.0
    assert set(summary["by_type"]) == {"formal", "casual"}
    assert summary["by_type"]["formal"]["last_day"]["count"] == 1


def test_the_largest_value_fits_a_kafka_record_whatever_clients_send() -> None:
    """Every window bucket of every type filled, at the highest cap the settings allow, with
    types of the longest name: still under a real Kafka's default 1 MiB record limit."""
    cap = Settings.model_fields["feedback_max_transformation_types"].metadata
    highest = next(m.le for m in cap if getattr(m, "le", None) is not None)
    newest = 1_800_000_000_000
    spread = [make_sample(newest - i * 300_000, 3, "abc", "abd") for i in range(12 * 24)]
    state = ModelFeedback()
    for n in range(highest + 10):
        kind = f"{n:04d}".ljust(rules.NAME_LENGTH, "x")
        state = model_feedback.settle(state, [(kind, s) for s in spread], highest)
    assert len(state.by_type) == highest + 1
    assert len(state.to_json()) < 1024 * 1024


def test_progress_counts_from_the_last_trigger_and_judges_the_windows() -> None:
    rules = parse_policies(
        {
            "policies": [
                {"name": "fix", "kind": "min_corrections", "threshold": 3, "cooldown": "1h"},
                {"name": "other", "kind": "min_corrections", "threshold": 3, "models": ["x-*"]},
                {"name": "low", "kind": "mean_rating_below", "threshold": 3, "min_samples": 2},
            ]
        }
    )
    assert model_feedback.progress("model-a", ModelFeedback(), rules) == []
    state, fired_at, seen = ModelFeedback(), 0, []
    for n in range(4):
        record = feedback(n=n, corrected="Send it soon, please.", rating=(5, 2, 4, 1)[n])
        state = model_feedback.fold(state, samples(record), "fb:0", n)
        state, fired = model_feedback.apply_policies("model-a", state, rules)
        fired_at = next((f.at_ms for f in fired if f.policy.name == "fix"), fired_at)
        seen.append({p.policy: p for p in model_feedback.progress("model-a", state, rules)})
    assert set(seen[1]) == {"fix", "low"}  # "other" is for x-* only
    assert (seen[1]["fix"].value, seen[1]["fix"].threshold) == (2, 3)
    assert seen[1]["fix"].last_fired_ms is None and not seen[1]["fix"].cooling
    assert (seen[1]["low"].value, seen[1]["low"].samples, seen[1]["low"].met) == (3.5, 2, False)
    fix, low = seen[3]["fix"], seen[3]["low"]
    assert (fix.value, fix.samples) == (1, 1)  # the fourth, after the third fired
    assert fix.last_fired_ms == fired_at and fix.cooling
    assert fix.cooldown_until_ms == fired_at + 3_600_000
    assert (low.value, low.samples, low.met, low.armed) == (3.0, 4, False, True)
