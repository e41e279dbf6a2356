"""The model registry: MLflow behind a small interface, and deployments (deploy, roll back,
archive) with the ModelChanged events they announce."""
