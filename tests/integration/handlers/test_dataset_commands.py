"""``tonebridge datasets import`` and ``tonebridge datasets list`` on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tonebridge.cli import app

pytestmark = pytest.mark.integration
ROWS = [
    {"input_text": f"hi {i}", "transformation_type": "formal", "chosen": f"Hello {i}.",
     "rejected": f"yo {i}"}
    for i in range(10)
]  # fmt: skip


def run(arguments: list[str], data_dir: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, arguments, env={"DATA_DIR": str(data_dir)})
    return result.exit_code, result.stdout, result.stderr


def test_a_file_is_imported_and_listed(database_url: str, tmp_path: Path, unique: str) -> None:
    source = tmp_path / "pairs.parquet"
    pd.DataFrame(ROWS).to_parquet(source)
    name = f"pairs-{unique}"
    arguments = ["datasets", "import", str(source), "--format", "dpo", "--name", name]
    code, out, err = run([*arguments, "--url", database_url], tmp_path)
    assert code == 0, err
    assert out.startswith("imported ") and "dpo rows" in out
    dataset_id = out.split()[1].rstrip(":")
    [train] = tmp_path.glob("datasets/*/train.jsonl")
    assert json.loads(train.read_text().splitlines()[0]).keys() == ROWS[0].keys()

    code, out, err = run(["datasets", "list", "--name", name, "--url", database_url], tmp_path)
    assert code == 0, err
    [line] = out.splitlines()
    assert line.split()[:3] == [dataset_id, "training", "dpo"] and line.endswith(name)
    held_out = ["--name", f"{name}-validation", "--type", "validation", "--url", database_url]
    code, out, _ = run(["datasets", "list", *held_out], tmp_path)
    assert code == 0 and len(out.splitlines()) == 1


def test_bad_rows_are_named_and_nothing_is_stored(
    database_url: str, tmp_path: Path, unique: str
) -> None:
    rows = [dict(row) for row in ROWS]
    rows[4]["chosen"] = "x\x00y"
    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    name = f"bad-{unique}"
    arguments = ["datasets", "import", str(source), "--format", "dpo", "--name", name]
    code, _, err = run([*arguments, "--url", database_url], tmp_path)
    assert code == 2
    assert "row 5, chosen: chosen contains a NUL character" in err
    assert not list(tmp_path.glob("datasets/*"))
    code, out, _ = run(["datasets", "list", "--name", name, "--url", database_url], tmp_path)
    assert (code, out) == (0, "")


def test_a_missing_file_or_unknown_format_is_a_usage_error(
    database_url: str, tmp_path: Path
) -> None:
    code, _, err = run(["datasets", "import", str(tmp_path / "nope.csv")], tmp_path)
    assert code == 2 and "nope.csv" in err
    (tmp_path / "rows.csv").write_text("input_text\nhi\n")
    code, _, err = run(["datasets", "import", str(tmp_path / "rows.csv"), "--format=xml"], tmp_path)
    assert code == 2 and "--format" in err
