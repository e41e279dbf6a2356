"""Statistics as pure folds: initial() -> S, add(S, x) -> S, merge(S, S) -> S, result(S)."""
