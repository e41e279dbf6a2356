from __future__ import annotations

import pytest

from tonebridge.errors import InvalidEventError
from tonebridge.handlers.trainer.plan import default_name, parse_config, split_options


def test_config_json_must_be_an_object() -> None:
    assert parse_config('{"max_steps": 3}') == {"max_steps": 3}
    assert parse_config("") == {}
    with pytest.raises(InvalidEventError, match="not JSON"):
        parse_config("{nope")
    with pytest.raises(InvalidEventError, match="object"):
        parse_config("[1, 2]")


def test_trainer_keys_are_split_from_the_runner_options() -> None:
    runner, trainer = split_options(
        {"learning_rate": 1e-3, "registered_model_name": "tone", "validation_fraction": 0.2}
    )
    assert runner == {"learning_rate": 1e-3}
    assert trainer == {"registered_model_name": "tone", "validation_fraction": 0.2}


@pytest.mark.parametrize(
    ("base", "name"),
    [
        ("meta-llama/Llama-3.2-1B", "tone_adjustment-Llama-3.2-1B"),
        ("/models/tiny llama/", "tone_adjustment-tiny-llama"),
    ],
)
def test_default_name_is_one_per_base_model(base: str, name: str) -> None:
    assert default_name("tone_adjustment", base) == name
