"""Avro schemas of every event (one folder per family) and the single-object codec."""
