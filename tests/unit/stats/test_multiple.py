"""Holm and Benjamini-Hochberg against statsmodels' multipletests."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from tonebridge.stats.multiple import adjust, benjamini_hochberg, holm

P_VALUES = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04, 0.5]


def test_fixed_data_against_statsmodels() -> None:
    assert holm(P_VALUES) == pytest.approx(multipletests(P_VALUES, method="holm")[1].tolist())
    expected_bh = multipletests(P_VALUES, method="fdr_bh")[1].tolist()
    assert benjamini_hochberg(P_VALUES) == pytest.approx(expected_bh)


# statsmodels' Holm runs gc.collect() on every call: a second each once the session holds
# torch models, so the reference runs with collection skipped (it changes no result)
@settings(max_examples=30)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=12))
def test_random_against_statsmodels(p_values: list[float]) -> None:
    # atol: operation order differs in the subnormal range (2e-323 against 2.5e-323)
    with mock.patch("gc.collect"):
        expected_holm = multipletests(p_values, method="holm")[1]
    np.testing.assert_allclose(adjust(p_values, "holm"), expected_holm, atol=1e-300)
    expected_bh = multipletests(p_values, method="fdr_bh")[1]
    np.testing.assert_allclose(adjust(p_values, "bh"), expected_bh, atol=1e-300)


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match="unknown correction"):
        adjust([0.1], "bonferroni")
