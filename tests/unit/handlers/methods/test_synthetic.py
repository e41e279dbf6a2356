from __future__ import annotations

from tonebridge.handlers.methods.synthetic import (
    TONES,
    all_rewrites,
    corpus_sentences,
    labeled_rewrites,
    preference_pairs,
    rated_rewrites,
    rewrite_split,
)


def test_the_split_is_deterministic_by_seed() -> None:
    assert rewrite_split(50, 10, seed=7) == rewrite_split(50, 10, seed=7)
    assert rewrite_split(50, 10, seed=7).train != rewrite_split(50, 10, seed=8).train


def test_no_held_out_input_is_ever_trained_on() -> None:
    split = rewrite_split(10_000, 10_000, seed=1)
    train_inputs = {ex.input_text for ex in split.train}
    held_inputs = {ex.input_text for ex in split.held_out}
    assert held_inputs and train_inputs
    assert not train_inputs & held_inputs
    assert len(split.train) + len(split.held_out) == len(all_rewrites())


def test_every_input_has_one_rewrite_per_tone_and_tones_differ() -> None:
    by_input: dict[str, dict[str, str]] = {}
    for ex in all_rewrites():
        by_input.setdefault(ex.input_text, {})[ex.transformation_type] = ex.target_text
    assert all(set(tones) == set(TONES) for tones in by_input.values())
    assert all(len(set(tones.values())) == len(TONES) for tones in by_input.values())


def test_the_mapping_is_learnable_the_noise_maps_to_nothing() -> None:
    targets = {
        ex.target_text
        for ex in all_rewrites()
        if ex.transformation_type == "polite" and ex.input_text.endswith("send it asap")
    }
    assert targets == {"Could you please send it when you have a moment? Thank you!"}


def test_preference_pairs_choose_the_right_rewrite_over_a_wrong_one() -> None:
    examples = rewrite_split(40, 0, seed=2).train
    pairs = preference_pairs(examples, seed=2)
    assert [p.chosen for p in pairs] == [ex.target_text for ex in examples]
    assert all(p.rejected != p.chosen for p in pairs)
    assert any(p.rejected == p.input_text for p in pairs)  # some echoes
    assert any(p.rejected != p.input_text for p in pairs)  # some wrong tones


def test_labeled_rewrites_alternate_and_label_correctly() -> None:
    examples = rewrite_split(20, 0, seed=3).train
    rows = labeled_rewrites(examples, seed=3)
    assert [row.desirable for row in rows] == [i % 2 == 0 for i in range(20)]
    for row, ex in zip(rows, examples, strict=True):
        assert (row.output_text == ex.target_text) == row.desirable


def test_ratings_rank_right_over_wrong_tone_over_echo() -> None:
    example = rewrite_split(1, 0, seed=4).train[0]
    rated = rated_rewrites([example])
    assert [r.rating for r in rated] == [5.0, 2.0, 1.0]
    assert rated[0].output_text == example.target_text
    assert rated[2].output_text == example.input_text


def test_the_corpus_has_inputs_and_rewrites_but_no_prompts() -> None:
    corpus = corpus_sentences()
    assert "send it asap" in corpus
    assert "Kindly send it at your earliest convenience." in corpus
    assert not any("Rewrite" in sentence for sentence in corpus)
