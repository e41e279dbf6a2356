from __future__ import annotations

from tonebridge.demo.needs import NEW_TONE, OLD_TONES, needs


def test_one_round_serves_every_tone_as_before() -> None:
    wanted = needs(160, 48, seed=0, rounds=1)
    assert len(wanted.served) == 1 and len(wanted.for_round(1)) == 160
    assert {r.tone for r in wanted.for_round(1)} == {*OLD_TONES, NEW_TONE}
    assert len(wanted.held_out) == 48
    assert {r.tone for r in wanted.held_out_new} == {NEW_TONE}


def test_after_round_one_the_new_tone_is_as_common_as_the_old_ones() -> None:
    wanted = needs(160, 48, seed=0, rounds=3)
    first, second = wanted.for_round(1), wanted.for_round(2)
    assert {r.tone for r in first} == set(OLD_TONES) and len(first) == 160
    assert second[:160] == first  # the old requests are still asked for
    assert sum(r.tone == NEW_TONE for r in second) == 160
    assert wanted.for_round(3) == second
    assert {r.tone for r in wanted.held_out_old} == set(OLD_TONES)
    assert {r.tone for r in wanted.held_out_new} == {NEW_TONE}
    assert len(wanted.held_out_old) == len(wanted.held_out_new) == 48


def test_no_held_out_input_is_ever_served() -> None:
    wanted = needs(160, 48, seed=4, rounds=2)
    served = {r.input_text for r in wanted.for_round(2)}
    assert served.isdisjoint(r.input_text for r in wanted.held_out)
