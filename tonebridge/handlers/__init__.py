"""Handlers: training runners, evaluation and the registry (torch is imported only here)."""
