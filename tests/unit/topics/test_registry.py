from __future__ import annotations

import pytest

from tonebridge.avro.codec import BATCH, REGISTRY
from tonebridge.settings import load_settings
from tonebridge.topics.registry import ALL_TOPICS, COPARTITIONED, by_name


def test_topic_names_are_unique_and_versioned() -> None:
    bases = [spec.base for spec in ALL_TOPICS]
    assert len(set(bases)) == len(bases) == 10
    assert all(base.startswith("tonebridge.") and base.endswith(".v1") for base in bases)


def test_every_event_type_has_a_topic_and_every_topic_a_known_schema() -> None:
    carried = {schema for spec in ALL_TOPICS for schema in spec.schemas}
    assert carried == set(REGISTRY.by_name) - {BATCH}


@pytest.mark.parametrize("partitions", [1, 4, 12])
def test_copartitioned_topics_keep_equal_partition_counts(partitions: int) -> None:
    settings = load_settings(kafka_topic_partitions=partitions)
    for left, right in COPARTITIONED:
        assert left.partition_count(settings) == right.partition_count(settings)


def test_by_name_finds_a_spec_under_the_prefix() -> None:
    settings = load_settings(kafka_topic_prefix="p.")
    assert by_name(settings, "p.tonebridge.feedback.v1").base == "tonebridge.feedback.v1"
    with pytest.raises(KeyError):
        by_name(settings, "tonebridge.feedback.v1")
