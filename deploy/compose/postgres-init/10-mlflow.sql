-- MLflow's tracking store: a database of its own on the stack's PostgreSQL (compose.yaml).
-- The image runs this once, when the data volume is first initialised.
CREATE DATABASE mlflow;
