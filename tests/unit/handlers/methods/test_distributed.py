"""The trainer's side of a distributed run: how many ranks, the DeepSpeed checks, the files
the ranks and the trainer exchange (the ranks themselves run in the integration tests)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

import tonebridge
from tonebridge.errors import ConfigError, TrainingError
from tonebridge.handlers.methods.config import TrainingConfig
from tonebridge.handlers.methods.control import (
    LoggedStep,
    ProgressUpdate,
    RunControl,
    TrainingResult,
)
from tonebridge.handlers.methods.distributed import (
    RANK_MODULE,
    Parallelism,
    ProgressReader,
    append_progress,
    check_deepspeed,
    check_devices,
    rank_environment,
    read_result,
    result_from_json,
    result_json,
    torchrun_command,
    write_job,
    zero_stage,
)
from tonebridge.handlers.methods.tracking import Tracking
from tonebridge.settings import load_settings

ROOT = Path(__file__).resolve().parents[4]
EXAMPLE = ROOT / "deploy" / "deepspeed" / "zero2.json"
DEEPSPEED_INSTALLED = importlib.util.find_spec("deepspeed") is not None
UPDATE = ProgressUpdate("sft", 2, 6, 0.5, 1 / 3, 1.25, 5e-3, 4.0, 2.0)


def test_one_process_by_default_and_a_count_or_auto_from_the_settings() -> None:
    assert Parallelism.from_settings(load_settings()) == Parallelism(1, None)
    assert not Parallelism.from_settings(load_settings()).distributed
    two = Parallelism.from_settings(load_settings(train_processes="2"))
    assert two == Parallelism(2, None) and two.distributed
    import torch

    auto = Parallelism.from_settings(load_settings(train_processes="auto"))
    assert auto.processes == max(torch.cuda.device_count(), 1)


def test_a_deepspeed_config_alone_launches_under_torchrun() -> None:
    parallel = Parallelism.from_settings(load_settings(train_deepspeed_config=str(EXAMPLE)))
    assert parallel == Parallelism(1, EXAMPLE) and parallel.distributed


@pytest.mark.parametrize("value", ["0", "-1", "all"])
def test_a_bad_process_count_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="TRAIN_PROCESSES"):
        load_settings(train_processes=value)


def test_the_rank_comes_from_torchruns_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().rank == 0
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    settings = load_settings()
    assert (settings.rank, settings.local_rank, settings.world_size) == (1, 1, 2)


def test_the_example_deepspeed_config_is_zero_2(tmp_path: Path) -> None:
    assert zero_stage(EXAMPLE) == 2
    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    assert zero_stage(plain) == 0


@pytest.mark.parametrize("text", ["[1, 2]", "{not json"])
def test_a_deepspeed_config_that_is_no_json_object_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "ds.json"
    path.write_text(text)
    with pytest.raises(TrainingError, match="DeepSpeed config"):
        zero_stage(path)


def test_zero_3_is_refused_for_a_quantized_base(tmp_path: Path) -> None:
    path = tmp_path / "zero3.json"
    path.write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    qlora = TrainingConfig(base_model="local/tiny", quantization="4bit")
    with pytest.raises(TrainingError, match="ZeRO-3 cannot shard a 4bit"):
        check_deepspeed(path, qlora)


@pytest.mark.skipif(DEEPSPEED_INSTALLED, reason="checks the message shown without deepspeed")
def test_a_deepspeed_config_without_deepspeed_installed_says_so() -> None:
    with pytest.raises(TrainingError, match="deepspeed package is not installed"):
        check_deepspeed(EXAMPLE, TrainingConfig(base_model="local/tiny"))
    check_deepspeed(None, TrainingConfig(base_model="local/tiny"))  # no config: nothing needed


def test_more_processes_than_gpus_are_refused_where_there_are_gpus() -> None:
    import torch

    gpus = torch.cuda.device_count()
    if gpus:
        with pytest.raises(TrainingError, match="needs a GPU of its own"):
            check_devices(gpus + 1)
    check_devices(max(gpus, 4))  # CPU ranks (gloo): any number


def test_torchrun_runs_the_rank_module_on_a_free_port(tmp_path: Path) -> None:
    command = torchrun_command(tmp_path / "job.json", 4)
    assert command[1:3] == ["-m", "torch.distributed.run"]
    assert "--standalone" in command and "--nproc-per-node=4" in command
    assert command[-3:] == ["-m", RANK_MODULE, str(tmp_path / "job.json")]


@pytest.mark.parametrize("parent", [None, "parent-adapter"])
def test_the_job_file_tells_the_ranks_which_adapter_they_continue(
    tmp_path: Path, parent: str | None
) -> None:
    start = None if parent is None else tmp_path / parent
    run = RunControl(tmp_path / "out", start_adapter=start)
    config = TrainingConfig(base_model="local/tiny")
    spec = json.loads(write_job(tmp_path, "sft", config, [], run, Parallelism(2)).read_text())
    assert spec["start_adapter"] == (None if start is None else str(start))
    assert spec["output_dir"] == str(tmp_path / "out")


def test_the_ranks_import_this_checkout_and_get_the_secrets(tmp_path: Path) -> None:
    tracking = Tracking(
        wandb_api_key=SecretStr("wk"), run_name="sft-1", huggingface_token=SecretStr("hf")
    )
    env = rank_environment(RunControl(tmp_path, tracking=tracking))
    root = str(Path(tonebridge.__file__).resolve().parents[1])
    assert env["PYTHONPATH"].split(os.pathsep)[0] == root
    assert (env["WANDB_API_KEY"], env["WANDB_NAME"], env["HUGGINGFACE_TOKEN"]) == (
        "wk",
        "sft-1",
        "hf",
    )
    plain = rank_environment(RunControl(tmp_path))
    assert plain.get("HUGGINGFACE_TOKEN") == os.environ.get("HUGGINGFACE_TOKEN")


def test_progress_is_read_line_by_line_never_half_a_line(tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    reader = ProgressReader(path)
    assert reader.read() == []
    buffer = io.StringIO()
    append_progress(buffer, UPDATE)
    line = buffer.getvalue()
    path.write_text(line + line[:10])
    assert reader.read() == [UPDATE]
    assert reader.read() == []
    path.write_text(line + line)
    assert reader.read() == [UPDATE]


def test_a_result_survives_the_trip_through_json(tmp_path: Path) -> None:
    result = TrainingResult(
        kind="rlhf", status="completed", adapter_dir=tmp_path / "adapter", steps=6,
        total_steps=6, epochs=1.5, metrics={"train_loss": 0.5},
        artifacts={"reward_model": tmp_path / "reward_model"},
        history=(LoggedStep(2, 1_000, {"loss": 0.7}),),
    )  # fmt: skip
    assert result_from_json(json.loads(json.dumps(result_json(result)))) == result
    stopped = TrainingResult("sft", "stopped", None, 2, 6, 0.5, {})
    assert result_from_json(json.loads(json.dumps(result_json(stopped)))) == stopped


def test_failed_ranks_raise_their_own_error_else_the_logs_tail(tmp_path: Path) -> None:
    (tmp_path / "log.txt").write_text("lots of output\nRuntimeError: the last words")
    with pytest.raises(TrainingError, match="(?s)status 1: .*the last words"):
        read_result(tmp_path, 1)
    (tmp_path / "error.json").write_text(json.dumps({"error": "cannot load base model x"}))
    with pytest.raises(TrainingError, match="^cannot load base model x$"):
        read_result(tmp_path, 1)
