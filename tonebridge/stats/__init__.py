"""Statistics as pure folds: ``initial() -> S``, ``add(S, x) -> S``, ``merge(S, S) -> S``,
``result(S)``; ``add_many(S, xs) -> S`` is the fast path for a batch.

No I/O and no faust here. Every state is a small frozen dataclass, O(1) in the number of
events, with ``to_dict()`` (JSON-ready: str keys, ints, floats, None) and ``from_dict()``.
``add`` never mutates its input.

Feedback (one state per model, or per model and transformation type):
    feedback      FeedbackSample (``sample_from_record``: edit distance computed once) and
                  FeedbackStats: count, mean rating, histogram, correction rate, edit distance
    windows       WindowedFeedback: all time + last hour (5-min buckets) + last day (1-h
                  buckets), by event time
    since         SinceCount: feedback since the last training, for the retraining policy

A/B tests (one state per test):
    spec          ABSpec from an ABTestCommand record (``spec_from_command``)
    arms          ArmObservation (``observation_from_outcome``) and ArmState per arm
    abtest        ABState = arms + running always-valid bounds; ``checkpoint`` = one look
    decide        ``decide``/``evaluate`` -> verdict.Decision (``verdict_fields()`` for Avro)
    sequential    mSPRT (always-valid p-values, confidence sequences)
    horizon       the horizon-aware always-valid test, for a spec with a horizon
    comoments     joint moments of a metric and a pre-exposure covariate; CUPED inputs
    srm           sample-ratio mismatch, sequential (Dirichlet-multinomial) and chi-square
    fixed         two-proportion z-test, Welch t-test (reference only)
    multiple      Holm, Benjamini-Hochberg
    moments, proportion, comoments   the per-metric folds
"""
