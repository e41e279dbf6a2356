from __future__ import annotations

import dataclasses

import pytest

from tonebridge.errors import TrainingError
from tonebridge.handlers.datasets.formats import FIELDS
from tonebridge.handlers.methods import TrainingConfig
from tonebridge.handlers.methods.examples import LabeledRewrite
from tonebridge.handlers.methods.registry import (
    METHODS,
    dataset_format,
    method_for,
    runner_rows,
)
from tonebridge.job_kinds import TRAINING_KINDS


def test_every_training_kind_has_exactly_one_method() -> None:
    assert sorted(METHODS) == sorted(TRAINING_KINDS)


@pytest.mark.parametrize("kind", TRAINING_KINDS)
def test_a_methods_rows_are_its_dataset_formats_rows(kind: str) -> None:
    method = method_for(kind)
    row_fields = {f.name for f in dataclasses.fields(method.rows)}
    assert row_fields == set(FIELDS[method.dataset_format])
    assert issubclass(method.config, TrainingConfig)
    assert set(method.defaults) <= set(method.config.model_fields)


def test_an_evaluation_reads_sft_rows_and_rlhf_reads_ratings() -> None:
    assert dataset_format("evaluate") == "sft"
    assert dataset_format("qlora") == "sft"
    assert dataset_format("rlhf") == "reward"


def test_an_unknown_kind_is_a_training_error_naming_the_known_ones() -> None:
    with pytest.raises(TrainingError, match="unknown training kind 'ppo'; expected one of sft"):
        method_for("ppo")
    with pytest.raises(TrainingError, match="unknown training kind 'stop'"):
        dataset_format("stop")


def test_dataset_rows_become_the_runners_row_type() -> None:
    row = {"input_text": "hi", "transformation_type": "formal", "output_text": "Hello."}
    rows = runner_rows("kto", [row | {"desirable": True}])
    assert rows == [LabeledRewrite("hi", "formal", "Hello.", desirable=True)]
