"""The story of a run: events folded into what the display and the summary show."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from tonebridge.decisions.promotion import (
    CONTROL,
    TREATMENT,
    PromotionPolicy,
    promotion_test_id,
)
from tonebridge.demo.display import plain_line, render
from tonebridge.demo.story import ArmLive, Story
from tonebridge.demo.summary import duration, summary_lines

T0 = datetime(2026, 3, 4, 10, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 4, 10, 0, 12, tzinfo=UTC)
TEST = promotion_test_id("new", "reg-1")


def command() -> dict[str, Any]:
    return {"requested_by": "policy:demo-corrections", "model_id": "base-id", "kind": "sft",
            "reason": "150 corrections since the last training"}  # fmt: skip


def status(state: str, step: int, loss: float | None = None) -> dict[str, Any]:
    return {"job_id": "job-1234abcd", "status": state, "step": step, "total_steps": 30,
            "loss": loss, "message": None}  # fmt: skip


def registered() -> dict[str, Any]:
    return {
        "model_id": "new", "name": "tone-demo", "version": "2", "model_type": "tone_adjustment",
        "job_id": "job-1234abcd", "feedback_count": 312, "feedback_from": T0, "feedback_to": T1,
        "metrics": {"chrf": 38.2, "baseline_chrf": 0.7, "vs_baseline_chrf_delta_ci_low": 30.0,
                    "vs_baseline_chrf_delta_ci_high": 44.5, "vs_baseline_verdict": 1.0},
    }  # fmt: skip


def ab_create() -> dict[str, Any]:
    return {"action": "create", "test_id": TEST, "reason": "v2 beats its parent",
            "arms": [{"arm_id": CONTROL, "model_id": "base-id", "weight": 0.5},
                     {"arm_id": TREATMENT, "model_id": "new", "weight": 0.5}]}  # fmt: skip


def verdict() -> dict[str, Any]:
    return {"test_id": TEST, "decision": "winner", "winner_arm": TREATMENT,
            "winner_model_id": "new", "metric": "rating", "effect": 1.62, "ci_low": 1.2,
            "ci_high": 2.0, "p_values": {f"{TREATMENT}/rating": 0.0004},
            "samples": {CONTROL: 130, TREATMENT: 125}, "reason": "treatment wins"}  # fmt: skip


def changed(model_id: str = "new") -> dict[str, Any]:
    return {"model_id": model_id, "change": "deployed", "reason": "won A/B test"}


def closed_loop() -> Story:
    story = Story()
    story.set_base("base-id")
    events = [
        ("TrainingCommand", command()),
        ("TrainingStatus", status("pending", 0)),
        ("TrainingStatus", status("running", 4, 2.5)),
        ("TrainingStatus", status("running", 30, 1.1)),
        ("TrainingStatus", status("completed", 0)),
        ("ModelRegistered", registered()),
        ("ABTestCommand", ab_create()),
        ("ABTestVerdict", verdict()),
        ("ModelCommand", {"action": "deploy", "model_id": "new", "requested_by": "promotion:x"}),
        ("ModelChanged", changed()),
    ]
    for at_s, (name, record) in enumerate(events):
        story.apply(name, record, float(at_s * 10))
    story.watch({**changed(), "version": "2"}, "ModelChanged", 101.0)
    story.held_out = {"base-id": 0.8, "new": 37.9}
    return story


def test_the_story_follows_the_loop_from_trigger_to_deployment() -> None:
    story = closed_loop()
    assert story.trigger == command()
    assert story.training is not None
    assert (story.training.status, story.training.step, story.training.loss) == (
        "completed",
        30,
        1.1,
    )
    assert (story.training.started_s, story.training.ended_s) == (20.0, 40.0)
    assert story.label("new") == "v2"
    assert story.production == "new"
    assert story.promoted == "new"
    texts = [line for _, line in story.timeline]
    assert texts[0].startswith("policy:demo-corrections fired for base")
    assert any("A/B verdict: winner, treatment wins" in t for t in texts)
    assert texts[-1].startswith("downstream watcher: v2 deployed")


def test_nothing_is_promoted_until_the_watcher_saw_the_deployment() -> None:
    story = Story()
    story.set_base("base-id")
    story.apply("ABTestCommand", ab_create(), 1.0)
    story.apply("ModelChanged", changed(), 2.0)
    assert story.deployed is not None and story.promoted is None
    story.watch({**changed(), "version": "2"}, "ModelChanged", 3.0)
    assert story.promoted == "new"


def test_tests_and_commands_outside_the_loop_are_not_the_story() -> None:
    story = Story()
    story.apply("ABTestCommand", {**ab_create(), "test_id": "manual"}, 1.0)
    story.apply("TrainingCommand", {**command(), "requested_by": "api"}, 1.0)
    story.apply("ABTestVerdict", verdict(), 2.0)
    assert (story.test, story.trigger, story.verdict) == (None, None, None)
    assert story.timeline == []


def test_a_second_job_does_not_replace_the_running_one() -> None:
    story = Story()
    story.apply("TrainingStatus", status("running", 3), 1.0)
    story.apply("TrainingStatus", {**status("running", 1), "job_id": "other"}, 2.0)
    assert story.training is not None and story.training.job_id == "job-1234abcd"


def test_the_summary_tells_what_was_trained_tested_and_gained() -> None:
    lines = summary_lines(closed_loop(), 187.0, 48)
    text = "\n".join(lines)
    assert "Trained: sft job job-1234 on 312 feedback events (10:00:00 to 10:00:12 UTC)" in text
    assert "requested by policy:demo-corrections" in text
    assert "30 steps in 20s" in text
    assert "held-out chrF 0.7 (parent) -> 38.2" in text and "+30.0..+44.5" in text
    assert "winner, treatment (v2) wins on rating: effect +1.620; CI +1.200..+2.000" in text
    assert "p=0.0004" in text and "samples control 130, treatment 125" in text
    assert "Held-out chrF on 48 requests no user sent: base 0.8 -> v2 37.9 (+37.1)" in text
    assert lines[-1] == "Total time: 3m07s"


def test_an_unfinished_run_says_what_is_missing() -> None:
    story = Story()
    story.set_base("base-id")
    text = "\n".join(summary_lines(story, 12.0, 48))
    assert "nothing (no model was registered)" in text
    assert "A/B test: none started" in text and "Deployed: nothing" in text
    assert "Held-out" not in text


def test_the_display_shows_stats_progress_and_arms() -> None:
    story = closed_loop()
    story.verdict = None  # the test is still running
    story.served = {"base-id": 400, "new": 120}
    story.feedback = {"base-id": {"count": 240, "mean_rating": 1.21, "correction_rate": 0.7}}
    story.arms = {CONTROL: ArmLive(130, 0.0, 1.2), TREATMENT: ArmLive(125, 0.12, 2.9)}
    story.p_values = {f"{TREATMENT}/rating": 0.003}
    console = Console(record=True, width=140)
    console.print(render(story, 75.0, ["embedded broker at 127.0.0.1:1"]))
    text = console.export_text()
    assert "tonebridge demo  1m15s" in text and "embedded broker" in text
    assert "1.21" in text and "70%" in text and "400" in text
    assert "step 30/30, loss 1.100" in text
    assert "treatment" in text and "2.90" in text and "0.003" in text
    assert "running: no decision yet" in text
    assert "Registered: tone-demo v2; trainer's held-out chrF 0.7 (parent) -> 38.2" in text


def test_the_display_shows_the_verdict_under_the_arms() -> None:
    console = Console(record=True, width=160)
    console.print(render(closed_loop(), 80.0, []))
    assert "A/B test: winner, treatment (v2) wins on rating" in console.export_text()


def test_plain_lines_carry_the_time() -> None:
    assert plain_line(65.2, "hello") == "[ 1m05s] hello"
    assert duration(59.6) == "1m00s"


def test_live_arms_and_running_p_values_come_from_the_ab_agents_state() -> None:
    from tonebridge.stats import abtests as abtest
    from tonebridge.stats.arms import observation_from_outcome
    from tonebridge.stats.decide import evaluate
    from tonebridge.stats.spec import spec_from_command

    metrics = [{"name": "success", "kind": "binary"}, {"name": "rating", "kind": "continuous"}]
    spec = spec_from_command({**ab_create(), "min_samples": 2, "metrics": metrics})
    events = [
        (arm, observation_from_outcome({"success": ok, "metrics": {"rating": r}}, spec.metrics))
        for arm, ok, r in [(CONTROL, False, 1.0), (CONTROL, True, 2.0), (TREATMENT, True, 4.0),
                           (TREATMENT, False, 3.0)]
    ]  # fmt: skip
    state = abtest.add_many(abtest.initial(spec), events)
    story = Story()
    story.observe_test(state)
    assert story.arms == {CONTROL: ArmLive(2, 0.5, 1.5), TREATMENT: ArmLive(2, 0.5, 3.5)}
    assert story.p_values == {}  # no look yet: no bounds
    looked, _ = evaluate(spec, state)
    story.observe_test(looked)
    assert set(story.p_values) == {f"{TREATMENT}/success", f"{TREATMENT}/rating"}
    assert all(0.0 <= p <= 1.0 for p in story.p_values.values())


def test_later_jobs_and_registrations_do_not_replace_the_first() -> None:
    story = closed_loop()
    story.apply("TrainingStatus", {**status("running", 3), "job_id": "second"}, 120.0)
    story.apply("ModelRegistered", {**registered(), "model_id": "newer", "version": "3"}, 130.0)
    assert story.training is not None and story.training.job_id == "job-1234abcd"
    assert story.registered is not None and story.registered["model_id"] == "new"
    assert story.label("newer") == "v3"
    assert story.timeline[-1][1] == "registered tone-demo v3 (a later training)"


def test_the_story_follows_the_first_promotion_test() -> None:
    story = closed_loop()
    other = {**ab_create(), "test_id": promotion_test_id("newer", "reg-2")}
    assert story.apply("ABTestCommand", other, 120.0) == "another A/B test started"
    assert story.apply("ABTestCommand", ab_create(), 121.0) is None  # a replay
    assert story.test is not None and story.test["test_id"] == TEST


def test_a_failed_job_or_a_lost_test_is_a_dead_end() -> None:
    story = Story()
    assert story.dead_end() is None
    story.apply("TrainingStatus", {**status("failed", 0), "message": "0 rows"}, 1.0)
    assert story.dead_end() == "training job job-1234 failed: 0 rows"
    lost = closed_loop()
    lost.verdict = {**verdict(), "winner_arm": CONTROL, "decision": "winner"}
    assert "production stays" in (lost.dead_end() or "")
    assert closed_loop().dead_end() is None


def test_a_model_the_worker_will_not_promote_is_a_dead_end() -> None:
    story = Story()
    unclear = {**registered(), "metrics": {"chrf": 42.4, "baseline_chrf": 12.8}}
    story.apply("ModelRegistered", unclear, 1.0)
    assert story.dead_end() == (
        "v2 is not promoted: chrf 42.40 vs parent 12.80: the paired bootstrap does not favour it"
    )
    story.promotion = PromotionPolicy(require_significant=False)
    assert story.dead_end() is None


def _second_round(story: Story) -> None:
    """Round 2 on top of :func:`closed_loop`: v2 ("new") retrained into v3 ("newer")."""
    test = promotion_test_id("newer", "reg-2")
    events: list[tuple[str, dict[str, Any]]] = [
        ("TrainingStatus", {**status("completed", 30), "job_id": "job-2"}),
        ("ModelRegistered", {**registered(), "model_id": "newer", "version": "3",
                             "job_id": "job-2", "feedback_count": 90}),
        ("ABTestCommand", {**ab_create(), "test_id": test,
                           "arms": [{"arm_id": CONTROL, "model_id": "new", "weight": 0.5},
                                    {"arm_id": TREATMENT, "model_id": "newer", "weight": 0.5}]}),
        ("ABTestVerdict", {**verdict(), "test_id": test, "winner_model_id": "newer"}),
        ("ModelChanged", changed("newer")),
    ]  # fmt: skip
    for name, record in events:
        story.apply(name, record, 200.0)
    story.watch({**changed("newer"), "version": "3"}, "ModelChanged", 201.0)


def test_a_next_round_keeps_the_closed_one_and_follows_the_next_retraining() -> None:
    story = closed_loop()
    early = {**command(), "model_id": "new", "reason": "fired before the round ended"}
    story.apply("TrainingCommand", early, 105.0)  # the first round's trigger stays
    assert story.trigger == command()
    story.next_round()
    assert (story.round, story.promoted, story.registered, story.test) == (2, None, None, None)
    assert story.trigger == early  # the promoted model's retraining, requested already
    assert story.past[0].promoted == "new" and story.past[0].registered == registered()
    _second_round(story)
    assert story.promoted == "newer" and story.training is not None
    assert story.training.job_id == "job-2"
    assert story.past[0].registered is not None  # the closed round is not overwritten
    assert story.past[0].registered["model_id"] == "new"


def test_the_summary_prints_every_round_with_old_and_new_scores() -> None:
    story = closed_loop()
    story.next_round()
    _second_round(story)
    story.ladder = ["base-id", "new", "newer"]
    story.scores = {"base-id": (1.0, 0.5), "new": (40.0, 20.0), "newer": (41.5, 55.0)}
    text = "\n".join(summary_lines(story, 300.0, 48))
    assert text.index("Round 1:") < text.index("Deployed: v2") < text.index("Round 2:")
    assert "Deployed: v3 is production" in text
    assert (
        "Round 1 held-out chrF: old requests (polite, formal) base 1.0 -> v2 40.0 (+39.0); "
        "new requests (friendly) base 0.5 -> v2 20.0 (+19.5)"
    ) in text
    assert "Round 2 held-out chrF: old requests (polite, formal) v2 40.0 -> v3 41.5 (+1.5)" in text
    assert "new requests (friendly) v2 20.0 -> v3 55.0 (+35.0)" in text
    assert "Held-out chrF on" not in text  # the one-round line gives way to the rounds'
