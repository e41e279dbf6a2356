"""The stream bench's poll pacing: sparse while the end is far off, fine as it nears."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.worker_progress import POLL_S, SPARSE_POLL_S, Progress, next_poll_s


def test_polls_finely_before_any_rate_is_known() -> None:
    assert next_poll_s(0, 1_000, 0.0) == POLL_S
    assert next_poll_s(0, 1_000, 5.0) == POLL_S


def test_polls_sparsely_while_the_end_is_far_off() -> None:
    assert next_poll_s(100, 1_000, 1.0) == SPARSE_POLL_S  # 9 s left


def test_waits_half_the_time_left_as_the_end_nears() -> None:
    assert next_poll_s(900, 1_000, 2.25) == pytest.approx(0.125)  # 0.25 s left
    assert next_poll_s(999, 1_000, 2.0) == POLL_S
    assert next_poll_s(1_000, 1_000, 2.0) == POLL_S


def test_counts_each_agent_only_up_to_what_it_was_sent() -> None:
    progress = Progress(port=0, pid=0)
    progress.sent.update({"tally_feedback": 10, "judge_ab_tests": 5})
    applied = Counter({"tally_feedback": 12, "judge_ab_tests": 4, "define_ab_tests": 3})
    assert progress._done(applied) == 14  # noqa: SLF001 - the loop's stopping rule
