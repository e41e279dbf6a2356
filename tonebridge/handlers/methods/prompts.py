"""The one prompt template, shared by training, generation and evaluation.

A completion starts with a space so that a byte-level tokenizer splits prompt and
completion on a token boundary (trl warns otherwise, and the model would train on a
context it never sees at inference).
"""

from __future__ import annotations

PROMPT_TEMPLATE = "Rewrite in a {tone} tone: {input}\nRewrite:"


def tone_name(transformation_type: str) -> str:
    """``casual_to_formal`` reads as ``casual to formal`` inside the prompt."""
    return transformation_type.replace("_", " ").strip()


def format_prompt(input_text: str, transformation_type: str) -> str:
    return PROMPT_TEMPLATE.format(tone=tone_name(transformation_type), input=input_text.strip())


def format_completion(output_text: str) -> str:
    return " " + output_text.strip()
