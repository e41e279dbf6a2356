from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from pydantic import SecretStr

from tonebridge.errors import TrainingError, UnsupportedModelError
from tonebridge.handlers.methods import (
    FINAL_MARKER,
    DPOConfig,
    ProgressUpdate,
    RewriteExample,
    RLHFConfig,
    SFTConfig,
    make_config,
    run_training,
)
from tonebridge.handlers.methods.harness import trainer_arguments
from tonebridge.handlers.methods.loading import Hardware
from tonebridge.handlers.methods.synthetic import SyntheticSplit, rated_rewrites
from tonebridge.handlers.methods.tracking import NO_TRACKING, Tracking
from tonebridge.settings import load_settings


def _sft(tiny_model: Path, **options: object) -> SFTConfig:
    values: dict[str, object] = {
        "base_model": str(tiny_model),
        "batch_size": 2,
        "learning_rate": 1e-3,
        "cpu_threads": 1,
        "log_every_steps": 1,
        "packing": False,
        **options,
    }
    return SFTConfig.model_validate(values)


def test_a_stop_request_from_another_thread_stops_within_a_step_or_two(
    tiny_model: Path, split: SyntheticSplit, tmp_path: Path
) -> None:
    stop = threading.Event()
    reported: list[tuple[int, bool]] = []

    def progress(update: ProgressUpdate) -> None:
        reported.append((update.step, stop.is_set()))

    config = _sft(tiny_model, max_steps=500)
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(
            run_training,
            "sft",
            config,
            split.train,
            output_dir=tmp_path,
            progress=progress,
            should_stop=stop,
        )
        _wait_for(lambda: any(step >= 3 for step, _ in reported), future.running)
        stop.set()
        result = future.result(timeout=120)

    assert result.status == "stopped"
    assert result.adapter_dir is None
    assert not list(tmp_path.rglob(FINAL_MARKER))
    steps_after_stop = {step for step, stopping in reported if stopping}
    assert len(steps_after_stop) <= 2
    assert 3 <= result.steps < 500


def _wait_for(condition: Callable[[], bool], alive: Callable[[], bool]) -> None:
    end = time.monotonic() + 120.0
    while not condition():
        assert alive() and time.monotonic() < end, "training never reached step 3"
        time.sleep(0.01)


def test_a_stop_requested_before_the_start_stops_after_the_first_step(
    tiny_model: Path, split: SyntheticSplit, tmp_path: Path
) -> None:
    result = run_training(
        "sft",
        _sft(tiny_model, max_steps=50),
        split.train,
        output_dir=tmp_path,
        should_stop=lambda: True,
    )
    assert (result.status, result.steps, result.adapter_dir) == ("stopped", 1, None)


def test_the_run_uses_the_configured_cpu_threads_and_restores_them(
    tiny_model: Path, split: SyntheticSplit, tmp_path: Path
) -> None:
    seen: list[int] = []
    torch.set_num_threads(2)
    try:
        run_training(
            "sft",
            _sft(tiny_model, max_steps=2),
            split.train[:8],
            output_dir=tmp_path,
            progress=lambda _: seen.append(torch.get_num_threads()),
        )
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_the_result_holds_every_logged_step_but_not_the_closing_summary(
    tiny_model: Path, split: SyntheticSplit, tmp_path: Path
) -> None:
    config = _sft(tiny_model, max_steps=3)
    result = run_training("sft", config, split.train[:8], output_dir=tmp_path)
    assert [entry.step for entry in result.history] == [1, 2, 3]
    for entry in result.history:
        assert {"loss", "learning_rate", "grad_norm"} <= set(entry.values)
        assert not {"step", "train_runtime", "train_loss"} & set(entry.values)
    assert result.history[-1].values["loss"] == result.metrics["final_loss"]
    stamps = [entry.timestamp_ms for entry in result.history]
    assert stamps == sorted(stamps) and stamps[0] > 1_700_000_000_000


def test_trainer_arguments_report_to_wandb_only_with_a_key_and_stay_fp32_on_cpu(
    tiny_model: Path, tmp_path: Path
) -> None:
    cpu = Hardware(cuda=False, bf16=False)
    keyed = Tracking(wandb_api_key=SecretStr("k"), run_name="sft-job")
    plain = trainer_arguments(_sft(tiny_model), tmp_path, cpu, NO_TRACKING)
    assert plain["report_to"] == "none" and "run_name" not in plain
    reporting = trainer_arguments(_sft(tiny_model), tmp_path, cpu, keyed)
    assert (reporting["report_to"], reporting["run_name"]) == (["wandb"], "sft-job")
    assert not reporting["bf16"] and not reporting["fp16"] and reporting["use_cpu"]


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed")
def test_a_wandb_key_without_wandb_installed_fails_the_run_before_it_loads_anything(
    split: SyntheticSplit, tmp_path: Path
) -> None:
    config = _sft(tmp_path / "no-such-model")  # never reached: the check comes first
    tracking = Tracking(wandb_api_key=SecretStr("k"))
    with pytest.raises(TrainingError, match="pip install wandb"):
        run_training("sft", config, split.train, output_dir=tmp_path / "out", tracking=tracking)


def test_an_empty_dataset_is_a_training_error(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="0 rows"):
        run_training("sft", _sft(tiny_model), [], output_dir=tmp_path)


def test_rows_of_the_wrong_kind_are_a_training_error(
    tiny_model: Path, split: SyntheticSplit, tmp_path: Path
) -> None:
    config = DPOConfig(base_model=str(tiny_model), cpu_threads=1)
    with pytest.raises(TrainingError, match="expected PreferenceExample"):
        run_training("dpo", config, split.train, output_dir=tmp_path)


def test_blank_text_is_a_training_error(tiny_model: Path, tmp_path: Path) -> None:
    rows = [RewriteExample("send it asap", "  ", "polite")]
    with pytest.raises(TrainingError, match="target_text is blank"):
        run_training("sft", _sft(tiny_model), rows, output_dir=tmp_path)


def test_a_config_of_another_method_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    config = DPOConfig(base_model=str(tiny_model))
    with pytest.raises(TrainingError, match="sft needs a SFTConfig"):
        run_training("sft", config, [], output_dir=tmp_path)


def test_a_missing_base_model_is_a_training_error(split: SyntheticSplit, tmp_path: Path) -> None:
    config = _sft(tmp_path / "no-such-model")
    with pytest.raises(TrainingError, match="no-such-model"):
        run_training("sft", config, split.train, output_dir=tmp_path / "out")


def test_api_only_models_are_rejected_before_anything_loads(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelError, match="gpt-4o is an API-only model"):
        make_config("sft", "gpt-4o", settings=load_settings())


def test_qlora_without_cuda_is_refused_with_a_clear_reason(
    tiny_model: Path, split: SyntheticSplit, tmp_path: Path
) -> None:
    assert not torch.cuda.is_available()
    config = make_config("qlora", str(tiny_model), settings=load_settings())
    assert isinstance(config, SFTConfig) and config.quantization == "4bit"
    with pytest.raises(UnsupportedModelError, match="needs a CUDA GPU"):
        run_training("qlora", config, split.train, output_dir=tmp_path)


def test_concurrent_runs_from_two_threads_run_one_after_the_other(
    tiny_model: Path, split: SyntheticSplit, tmp_path: Path
) -> None:
    reported: list[str] = []
    config = _sft(tiny_model, max_steps=4)

    def train(name: str) -> str:
        result = run_training(
            "sft",
            config,
            split.train,
            output_dir=tmp_path / name,
            progress=lambda _: reported.append(name),
        )
        return result.status

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(train, ["a", "b"]))

    assert statuses == ["completed", "completed"]
    # Serialised by the run lock: one run's reports all come before the other's.
    switches = sum(
        1 for before, after in zip(reported, reported[1:], strict=False) if before != after
    )
    assert switches == 1


def test_a_max_length_that_cuts_off_every_completion_is_a_training_error(
    tiny_model: Path, split: SyntheticSplit, tmp_path: Path
) -> None:
    config = _sft(tiny_model, max_seq_length=8, max_steps=2)
    with pytest.raises(TrainingError, match="completion tokens within max_seq_length"):
        run_training("sft", config, split.train, output_dir=tmp_path)


def test_a_stopped_rlhf_run_stops_in_the_reward_phase_and_trains_no_policy(
    tiny_model: Path, split: SyntheticSplit, tmp_path: Path
) -> None:
    config = RLHFConfig(
        base_model=str(tiny_model), batch_size=4, num_generations=4, max_steps=5, cpu_threads=1
    )
    rated = rated_rewrites(split.train[:4])
    result = run_training("rlhf", config, rated, output_dir=tmp_path, should_stop=lambda: True)
    assert (result.status, result.steps, result.adapter_dir) == ("stopped", 1, None)
    assert not (tmp_path / "reward_model").exists()
    assert "reward_model/train_loss" in result.metrics
