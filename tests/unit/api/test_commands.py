from __future__ import annotations

import uuid

from tonebridge.api.auth import Principal, Scope
from tonebridge.api.commands import command_id_for, requested_by

ALICE = Principal("alice", frozenset(Scope))
BOB = Principal("bob", frozenset(Scope))


def test_command_ids_are_stable_per_caller_key_and_purpose() -> None:
    first = command_id_for(ALICE, "k", "/train")
    assert first == command_id_for(ALICE, "k", "/train")
    others = {
        command_id_for(BOB, "k", "/train"),
        command_id_for(ALICE, "k2", "/train"),
        command_id_for(ALICE, "k", "/rlhf/start"),
    }
    assert first not in others and len(others) == 3
    assert uuid.UUID(first).version == 5


def test_without_a_key_every_command_is_new() -> None:
    assert command_id_for(ALICE, None, "/train") != command_id_for(ALICE, None, "/train")


def test_a_command_names_the_caller_who_asked() -> None:
    assert requested_by(ALICE) == "api:alice"
