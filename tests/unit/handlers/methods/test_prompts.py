from __future__ import annotations

from tonebridge.handlers.methods.prompts import format_completion, format_prompt, tone_name


def test_the_prompt_names_the_tone_and_ends_where_the_answer_starts() -> None:
    prompt = format_prompt("  send it asap ", "polite")
    assert prompt == "Rewrite in a polite tone: send it asap\nRewrite:"


def test_transformation_types_read_as_words() -> None:
    assert tone_name("casual_to_formal") == "casual to formal"


def test_completions_start_with_a_space_for_a_clean_token_boundary() -> None:
    assert format_completion(" Please send it. ") == " Please send it."
