from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tonebridge.errors import InvalidEventError
from tonebridge.handlers.datasets.formats import (
    FeedbackRow,
    Limits,
    build_examples,
    examples_from_records,
    input_bucket,
    normalise,
    read_jsonl,
    read_records,
    split,
    write_jsonl,
)


def row(text: str, out: str, fix: str | None = None, rating: int | None = None) -> FeedbackRow:
    return FeedbackRow(text, out, fix, rating, "formal")


def test_sft_pairs_input_with_correction_and_skips_uncorrected() -> None:
    examples = build_examples([row("hi", "yo", "Hello."), row("bye", "cya")], "sft")
    assert examples == [
        {"input_text": "hi", "transformation_type": "formal", "target_text": "Hello."}
    ]


def test_dpo_prefers_the_correction_and_drops_identical_pairs() -> None:
    rows = [row("hi", "yo", "Hello."), row("ok", "Fine.", " fine. ")]
    assert build_examples(rows, "dpo") == [
        {"input_text": "hi", "transformation_type": "formal", "chosen": "Hello.", "rejected": "yo"}
    ]


def test_kto_labels_by_rating_and_drops_the_middle() -> None:
    rows = [row("a", "A!", rating=5), row("b", "B!", rating=3), row("c", "C!", rating=1)]
    labels = [(e["output_text"], e["desirable"]) for e in build_examples(rows, "kto")]
    assert labels == [("A!", True), ("C!", False)]


def test_reward_keeps_rated_outputs_only() -> None:
    rows = [row("a", "A!", rating=4), row("b", "B!")]
    assert [e["rating"] for e in build_examples(rows, "reward")] == [4.0]


def test_duplicates_keep_the_latest_and_empty_or_long_rows_are_dropped() -> None:
    rows = [
        row("hi", "yo", "Hello."),
        row("HI ", "yo", " hello."),
        row("  ", "x", "fix"),
        row("long", "x", "y" * 50),
    ]
    examples = build_examples(rows, "sft", Limits(max_chars=40))
    assert examples == [
        {"input_text": "HI", "transformation_type": "formal", "target_text": "hello."}
    ]


def test_normalise_collapses_space_and_case() -> None:
    assert normalise("  Send\tIT\n asap ") == "send it asap"


@given(st.lists(st.text(min_size=1, max_size=12), min_size=2, max_size=40))
def test_split_never_puts_one_input_on_both_sides(texts: list[str]) -> None:
    examples = [{"input_text": t, "target_text": "x"} for t in texts]
    parts = split(examples, 0.2)
    train = {normalise(e["input_text"]) for e in parts.train}
    held = {normalise(e["input_text"]) for e in parts.validation}
    assert not train & held
    assert len(parts.train) + len(parts.validation) == len(examples)
    if len({normalise(t) for t in texts}) > 1:
        assert held


def test_split_is_stable_and_near_the_fraction() -> None:
    examples = [{"input_text": f"input {i}", "target_text": "x"} for i in range(2000)]
    first, second = split(examples, 0.1), split(examples, 0.1)
    assert first == second
    assert 150 < len(first.validation) < 250
    assert 0 <= input_bucket("x") < 1


FEEDBACK = [
    {"input_text": "hi", "output_text": "yo", "corrected_text": "Hello.", "rating": 2},
    {"input_text": "bye", "output_text": "cya", "corrected_text": None, "rating": 5},
]


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv", ".parquet"])
def test_imported_files_of_each_type_build_the_same_examples(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"feedback{suffix}"
    frame = pd.DataFrame(FEEDBACK)
    if suffix == ".json":
        path.write_text(json.dumps(FEEDBACK))
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    records = read_records(path)
    assert [e["desirable"] for e in examples_from_records(records, "kto")] == [False, True]
    assert [e["target_text"] for e in examples_from_records(records, "sft")] == ["Hello."]


def test_ready_rows_are_kept_and_csv_strings_typed(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    rows = [
        {"input_text": "a", "transformation_type": "formal", "output_text": "A", "desirable": True}
    ]
    pd.DataFrame(rows * 2).to_csv(path, index=False)
    assert examples_from_records(read_records(path), "kto") == rows


def test_files_without_usable_columns_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    write_jsonl(path, [{"prompt": "p", "chosen": " a", "rejected": " b"}])
    with pytest.raises(InvalidEventError, match="needs columns"):
        examples_from_records(read_jsonl(path), "dpo")
    assert examples_from_records([], "dpo") == []


def test_unknown_file_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidEventError, match="unsupported"):
        read_records(tmp_path / "data.xlsx")
