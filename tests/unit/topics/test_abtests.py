from __future__ import annotations

from tests.support.samples import sample
from tonebridge.settings import load_settings
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC, ABTEST_VERDICTS_TOPIC, abtest_command
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC, inference_outcome
from tonebridge.topics.spec import partition_for


def test_commands_and_verdicts_are_keyed_by_test_id() -> None:
    assert ABTEST_COMMANDS_TOPIC.base == "tonebridge.abtest.commands.v1"
    assert ABTEST_VERDICTS_TOPIC.base == "tonebridge.abtest.verdicts.v1"
    assert ABTEST_COMMANDS_TOPIC.encode(sample("ABTestCommand", 1)).key == b"ab-1"
    assert ABTEST_VERDICTS_TOPIC.encode(sample("ABTestVerdict", 0)).key == b"ab-0"


def test_a_tests_outcomes_land_on_the_partition_number_of_its_commands() -> None:
    settings = load_settings(kafka_topic_partitions=7)
    partitions = ABTEST_COMMANDS_TOPIC.partition_count(settings)
    assert INFERENCE_OUTCOMES_TOPIC.partition_count(settings) == partitions
    for n in range(20):
        command = ABTEST_COMMANDS_TOPIC.encode(sample("ABTestCommand") | {"test_id": f"t{n}"})
        outcome = inference_outcome(request_id="r", model_id=f"m{n}", ab_test_id=f"t{n}")
        key = INFERENCE_OUTCOMES_TOPIC.encode(outcome).key
        assert partition_for(key, partitions) == partition_for(command.key, partitions)


def test_create_and_stop_commands_fit_their_topic() -> None:
    arms = [{"arm_id": "a", "model_id": "m1", "weight": 1.0}]
    create = abtest_command(test_id="t1", action="create", name="n", arms=arms)
    assert ABTEST_COMMANDS_TOPIC.encode(create).key == b"t1"
    ABTEST_COMMANDS_TOPIC.encode(abtest_command(test_id="t1", action="stop", reason="done"))
