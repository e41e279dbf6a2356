"""Storage: SQLAlchemy 2 async, a small repository per aggregate.

Repositories take a :class:`Database` and give back frozen records from
:mod:`tonebridge.storage.records`; ORM rows never leave this package. Failures raise
:mod:`tonebridge.errors` (``NotFoundError``, ``ConflictError``, ``IntegrityError``,
``StoreError``).
"""

from tonebridge.storage.abtests import ABTestRepository
from tonebridge.storage.datasets import DatasetRepository
from tonebridge.storage.db import Database, open_database
from tonebridge.storage.feedback import FeedbackRepository
from tonebridge.storage.models import ModelRepository, base_model_id
from tonebridge.storage.training_jobs import TrainingJobRepository

__all__ = [
    "ABTestRepository",
    "Database",
    "DatasetRepository",
    "FeedbackRepository",
    "ModelRepository",
    "TrainingJobRepository",
    "base_model_id",
    "open_database",
]
