"""Faust agents: thin stream loops that decode, fold and produce or persist."""
