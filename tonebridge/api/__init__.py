"""The HTTP API (FastAPI): commands go to Kafka, reads come from the database and agents."""
