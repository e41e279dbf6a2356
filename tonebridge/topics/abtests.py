"""A/B tests: commands in, verdicts out, both keyed by ``test_id``.

Commands are co-partitioned with ``tonebridge.inference.outcomes.v1`` (outcomes of a test are
keyed by ``ab_test_id``): both keep the default partition count, so a test's definition and its
outcomes meet on the same partition number.
"""

from __future__ import annotations

from tonebridge.topics.spec import TopicSpec, field

AB_TEST_COMMAND = "ABTestCommand"
AB_TEST_VERDICT = "ABTestVerdict"

ABTEST_COMMANDS_TOPIC = TopicSpec(
    "tonebridge.abtest.commands.v1", (AB_TEST_COMMAND,), field("test_id")
)
ABTEST_VERDICTS_TOPIC = TopicSpec(
    "tonebridge.abtest.verdicts.v1", (AB_TEST_VERDICT,), field("test_id")
)
