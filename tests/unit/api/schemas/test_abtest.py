from __future__ import annotations

import pytest
from pydantic import ValidationError

from tonebridge.api.schemas.abtests import ABTestRequest

ARMS = [{"arm_id": "a", "model_id": "m1"}, {"arm_id": "b", "model_id": "m2"}]


def test_defaults_measure_success_against_the_first_arm() -> None:
    request = ABTestRequest.model_validate({"name": "t", "arms": ARMS})
    assert [m.name for m in request.metrics] == ["success"]
    assert request.control_arm is None and request.alpha == 0.05


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arms": ARMS[:1]}, "at least 2"),
        ({"arms": [ARMS[0], {**ARMS[1], "arm_id": "a"}]}, "arm_id values must be unique"),
        ({"arms": [ARMS[0], {**ARMS[1], "model_id": "m1"}]}, "different model_id"),
        ({"control_arm": "c"}, "control_arm 'c' is not one of the arms"),
        ({"metrics": [{"name": "x"}, {"name": "x"}]}, "metric names must be unique"),
        ({"alpha": 0.9}, "less than or equal to 0.5"),
    ],
)
def test_inconsistent_tests_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ABTestRequest.model_validate({"name": "t", "arms": ARMS} | change)
