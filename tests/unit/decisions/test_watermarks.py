from __future__ import annotations

import pytest

from tonebridge.decisions.watermarks import advance, is_applied, source_id


def test_a_message_at_or_below_the_mark_is_applied() -> None:
    marks = advance({}, source_id("feedback", 2), 41)
    assert is_applied(marks, "feedback:2", 41)
    assert is_applied(marks, "feedback:2", 3)
    assert not is_applied(marks, "feedback:2", 42)
    assert not is_applied(marks, "feedback:3", 0)  # another partition has its own mark


def test_advancing_keeps_other_sources_and_refuses_to_go_back() -> None:
    marks = advance(advance({}, "a:0", 5), "b:0", 1)
    assert marks == {"a:0": 5, "b:0": 1}
    with pytest.raises(ValueError, match="already applied"):
        advance(marks, "a:0", 5)
