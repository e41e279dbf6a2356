"""The input rules of the A/B agent's records, InferenceOutcome and ABTestCommand (pure).

The API refuses the same things with a 422 (:mod:`tonebridge.api.schemas.abtests`,
``OutcomeIn``), but a producer can write to Kafka directly: the agent applies the rules of
:mod:`tonebridge.rules` again, and a record that breaks one is a dead letter with the reason.
Event times are judged against the Kafka record's timestamp
(:func:`tonebridge.rules.reference_time`), so a replay judges a record as the first read did.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence, Sized
from datetime import datetime, timedelta
from typing import Any

from tonebridge import rules
from tonebridge.rules import ID, LABEL, OPTIONAL_ID, OPTIONAL_LABEL, OPTIONAL_TEXT, TextRule
from tonebridge.topics.abtests import AB_TEST_COMMAND
from tonebridge.topics.inference import INFERENCE_OUTCOME

MAX_ARMS = 10  # arms of one A/B test
MAX_METRICS = 20  # metrics one A/B test compares
METRIC_NAME = TextRule(rules.METADATA_KEY_LENGTH)  # a key of InferenceOutcome.metrics

OUTCOME_FIELDS: dict[str, TextRule] = {
    "event_id": ID,
    "request_id": LABEL,
    "model_id": ID,
    "ab_test_id": OPTIONAL_ID,
    "arm_id": OPTIONAL_ID,
    "transformation_type": TextRule(rules.NAME_LENGTH, required=False),
}
COMMAND_FIELDS: dict[str, TextRule] = {
    "event_id": ID,
    "test_id": ID,
    "name": OPTIONAL_LABEL,
    "control_arm": OPTIONAL_ID,
    "reason": OPTIONAL_TEXT,
    "covariate": TextRule(rules.METADATA_KEY_LENGTH, required=False),  # a key of metrics
}
ARM_FIELDS: dict[str, TextRule] = {"arm_id": ID, "model_id": ID}


def check_outcome(record: Mapping[str, Any], now: datetime, max_future: timedelta) -> None:
    """Every rule an InferenceOutcome must pass; raises InvalidEventError naming the field."""
    rules.check_fields(record, OUTCOME_FIELDS)
    _check_metrics(record.get("metrics") or {})
    rules.check_event_time(record.get("event_time"), "event_time", now, max_future)


def outcomes_fit(
    records: Sequence[Mapping[str, Any]],
    now: datetime,
    max_future: timedelta,
    *,
    millis: bool = False,
) -> bool:
    """Whether :func:`check_outcome` passes every record (False: check each one); with
    ``millis``, of the records read with their event times in epoch ms
    (:func:`tonebridge.rules.millis_fit`)."""
    times = rules.millis_fit if millis else rules.times_fit
    return (
        rules.all_fit(records, OUTCOME_FIELDS)
        and _metrics_fit(r.get("metrics") or {} for r in records)
        and times([r.get("event_time") for r in records], now, max_future)
    )


def _metrics_fit(values: Iterable[Any]) -> bool:
    """Whether :func:`_check_metrics` passes each map, decided at once for the common case:
    a few finite floats under plain names (False: check each)."""
    maps = list(values)
    if not set(map(type, maps)) <= {dict}:
        return False
    if max(map(len, maps), default=0) > rules.METADATA_ENTRIES:
        return False
    numbers = [value for metrics in maps for value in metrics.values()]
    if not numbers:
        return True
    if set(map(type, numbers)) != {float} or not math.isfinite(sum(numbers)):
        return False  # a NaN, an infinity (or a sum too large: look closer)
    return rules.texts_fit([name for metrics in maps for name in metrics], METRIC_NAME)


def check_command(record: Mapping[str, Any], now: datetime, max_future: timedelta) -> None:
    """Every rule an ABTestCommand must pass (the spec's own checks come after)."""
    rules.check_fields(record, COMMAND_FIELDS)
    arms: Sequence[Mapping[str, Any]] = record.get("arms") or ()
    metrics: Sequence[Mapping[str, Any]] = record.get("metrics") or ()
    _check_count(arms, "arms", MAX_ARMS)
    _check_count(metrics, "metrics", MAX_METRICS)
    for index, arm in enumerate(arms):
        for field, rule in ARM_FIELDS.items():
            rules.check_text(arm.get(field), f"arms[{index}].{field}", rule)
        rules.check_json(arm.get("weight"), f"arms[{index}].weight")
    for index, metric in enumerate(metrics):
        rules.check_text(metric.get("name"), f"metrics[{index}].name", METRIC_NAME)
    rules.check_json(record.get("alpha"), "alpha")
    rules.check_event_time(record.get("event_time"), "event_time", now, max_future)


def check_item(name: str, record: Mapping[str, Any], now: datetime, max_future: timedelta) -> None:
    """The rules of a decoded record of either type the A/B agent reads."""
    if name == AB_TEST_COMMAND:
        check_command(record, now, max_future)
    elif name == INFERENCE_OUTCOME:
        check_outcome(record, now, max_future)


def _check_metrics(metrics: Mapping[str, Any]) -> None:
    """Named numbers: names within the key rule, every value finite."""
    _check_count(metrics, "metrics", rules.METADATA_ENTRIES)
    for name, value in metrics.items():
        if not rules.fits(name, METRIC_NAME):
            rules.check_text(name, "metrics key", METRIC_NAME)
        if not (type(value) is float and math.isfinite(value)):
            rules.check_json(value, f"metrics.{name}")


def _check_count(values: Sized, field: str, limit: int) -> None:
    if len(values) > limit:
        msg = f"{field} has {len(values)} entries, more than {limit}"
        raise rules.invalid(msg)
