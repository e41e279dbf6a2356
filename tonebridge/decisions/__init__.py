"""Pure decision logic: retraining policies, promotion policy, A/B test state and the
folds of feedback statistics. No faust, no I/O: the agents call these with their tables' values."""
