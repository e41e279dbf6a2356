"""One complete record per event type (every optional field set), for tests of every tier."""

from __future__ import annotations

from datetime import UTC, datetime

from tonebridge.avro.codec import Record

AT = datetime(2025, 3, 14, 15, 9, 26, 535000, tzinfo=UTC)


def sample(name: str, n: int = 0) -> Record:
    """A record of event type ``name``; ``n`` varies its ids (and its key)."""
    return SAMPLES[name](n)


def _feedback(n: int) -> Record:
    return {
        "event_id": f"fb-{n}",
        "event_time": AT,
        "user_id": f"user-{n}",
        "session_id": "session-1",
        "model_id": f"tone-formal-{n % 3}",
        "input_text": "send it asap",
        "output_text": "Could you send it when you have a moment?",
        "corrected_text": "Could you send it soon, please?",
        "transformation_type": "formal",
        "rating": 1 + n % 5,
        "feedback_type": "both",
        "metadata": {"app": "ios", "locale": "en-GB"},
    }


def _outcome(n: int) -> Record:
    return {
        "event_id": f"io-{n}",
        "event_time": AT,
        "request_id": f"req-{n}",
        "model_id": f"tone-formal-{n % 3}",
        "ab_test_id": f"ab-{n % 2}" if n % 4 else None,
        "arm_id": "treatment",
        "transformation_type": "formal",
        "success": n % 2 == 0,
        "metrics": {"rating": 4.0, "latency_ms": 812.5},
    }


def _training_command(n: int) -> Record:
    return {
        "event_id": f"tc-{n}",
        "event_time": AT,
        "command_id": f"cmd-{n}",
        "kind": "dpo",
        "job_id": None,
        "model_id": "tone-formal-1",
        "baseline_model_id": "tone-formal-0",
        "base_model": "sshleifer/tiny-gpt2",
        "model_type": "tone_adjustment",
        "dataset_id": "ds-7",
        "feedback_since": AT,
        "config_json": '{"beta": 0.1}',
        "requested_by": "policy:low-rating",
        "reason": "mean rating fell below 3.5",
    }


def _stop_command(n: int) -> Record:
    return {**_training_command(n), "event_id": f"ts-{n}", "kind": "stop", "job_id": f"job-{n}"}


def _training_status(n: int) -> Record:
    return {
        "event_id": f"st-{n}",
        "event_time": AT,
        "job_id": f"job-{n}",
        "command_id": f"cmd-{n}",
        "status": "running",
        "step": 12,
        "total_steps": 40,
        "epoch": 0.3,
        "progress": 0.3,
        "loss": 1.25,
        "learning_rate": 5e-5,
        "eta_seconds": 61.0,
        "message": "training",
        "metrics": {"reward_accuracy": 0.75},
    }


def _model_registered(n: int) -> Record:
    return {
        "event_id": f"mr-{n}",
        "event_time": AT,
        "model_id": f"tone-formal:{n + 1}",
        "name": "tone-formal",
        "version": str(n + 1),
        "base_model": "sshleifer/tiny-gpt2",
        "model_type": "tone_adjustment",
        "job_id": f"job-{n}",
        "dataset_id": "ds-7",
        "feedback_from": AT,
        "feedback_to": AT,
        "feedback_count": 1200,
        "metrics": {"eval_loss": 0.9},
        "artifact_uri": "mlflow-artifacts:/1/abc/artifacts/adapter",
        "mlflow_run_id": "abc",
    }


def _model_changed(n: int) -> Record:
    return {
        "event_id": f"mc-{n}",
        "event_time": AT,
        "model_id": f"tone-formal:{n + 1}",
        "name": "tone-formal",
        "version": str(n + 1),
        "change": "deployed",
        "alias": "production",
        "previous_model_id": f"tone-formal:{n}",
        "artifact_uri": "mlflow-artifacts:/1/abc/artifacts/adapter",
        "base_model": "sshleifer/tiny-gpt2",
        "reason": "won A/B test",
    }


def _model_command(n: int) -> Record:
    return {
        "event_id": f"mcmd-{n}",
        "event_time": AT,
        "command_id": f"mcmd-{n}",
        "action": "rollback",
        "model_id": f"tone-formal:{n + 1}",
        "requested_by": "abtest:guardrail",
        "reason": "latency guardrail",
    }


def _abtest_command(n: int) -> Record:
    return {
        "event_id": f"abc-{n}",
        "event_time": AT,
        "test_id": f"ab-{n % 2}",
        "action": "create",
        "name": "formal v3 vs v2",
        "arms": [
            {"arm_id": "control", "model_id": "tone-formal:2", "weight": 0.5},
            {"arm_id": "treatment", "model_id": "tone-formal:3", "weight": 0.5},
        ],
        "metrics": [
            {"name": "success", "kind": "binary", "higher_is_better": True, "guardrail": False},
            {
                "name": "latency_ms",
                "kind": "continuous",
                "higher_is_better": False,
                "guardrail": True,
            },
        ],
        "alpha": 0.05,
        "min_samples": 200,
        "control_arm": "control",
        "reason": "new version registered",
        "max_samples": None,
        "max_duration_seconds": None,
        "idle_timeout_seconds": None,
        "expected_samples": None,
        "covariate": None,
    }


def _abtest_verdict(n: int) -> Record:
    return {
        "event_id": f"abv-{n}",
        "event_time": AT,
        "test_id": f"ab-{n % 2}",
        "decision": "winner",
        "winner_arm": "treatment",
        "winner_model_id": "tone-formal:3",
        "metric": "success",
        "effect": 0.042,
        "ci_low": 0.01,
        "ci_high": 0.07,
        "p_values": {"success": 0.003},
        "samples": {"control": 5120, "treatment": 5075},
        "results_json": '{"success": {"z": 2.97}}',
        "reason": None,
    }


def _dead_letter(n: int) -> Record:
    return {
        "event_id": f"dl-{n}",
        "event_time": AT,
        "source_topic": "tonebridge.feedback.v1",
        "source_partition": 2,
        "source_offset": 1_000_000 + n,
        "error_type": "DecodeError",
        "reason": "payload does not start with the Avro single-object marker C3 01",
        "key": b"tone-formal-1",
        "payload": b"\x00not avro",
    }


def _event_batch(n: int) -> Record:
    return {"events": [b"\xc3\x01first", b"\xc3\x01second"][: 1 + n % 2]}


SAMPLES = {
    "FeedbackEvent": _feedback,
    "InferenceOutcome": _outcome,
    "TrainingCommand": _training_command,
    "TrainingStatus": _training_status,
    "ModelRegistered": _model_registered,
    "ModelChanged": _model_changed,
    "ModelCommand": _model_command,
    "ABTestCommand": _abtest_command,
    "ABTestVerdict": _abtest_verdict,
    "DeadLetter": _dead_letter,
    "EventBatch": _event_batch,
}
STOP_COMMAND = _stop_command
