"""Every error tonebridge raises on purpose, split by where it happens.

::

    TonebridgeError
    ├── ConfigError             settings are invalid            (retry: no, fix the config)
    ├── DecodeError             bytes are not a known event     (retry: no, dead-letter)
    │   ├── UnknownSchemaError  fingerprint not registered      (retry: no, dead-letter)
    │   └── SchemaValidationError  record does not fit schema   (retry: no, dead-letter)
    ├── HandleError             a valid event cannot be applied
    │   ├── InvalidEventError   semantically invalid            (retry: no, dead-letter)
    │   │   └── InvalidRowsError  bad rows in an imported file (retry: no, fix the file)
    │   └── TrainingError       a training run failed           (retry: no, job failed)
    │       └── UnsupportedModelError  model cannot be trained  (retry: no, rejected)
    ├── ProduceError            the broker did not take a record (retry: yes)
    ├── RouteError              no model known for a name or test (retry: yes, once the
    │                           router has read the events that define it)
    ├── StoreError              the database refused            (retry: depends, see below)
    │   ├── StoreUnavailableError  cannot reach the database   (retry: yes, API 503)
    │   ├── NotFoundError       no such row                     (retry: no)
    │   ├── ConflictError       state does not allow the change (retry: no)
    │   ├── IntegrityError      a constraint was violated       (retry: no)
    │   └── DataRefusedError    a value does not fit its column (retry: no, dead-letter)
    └── BrokerError             embedded broker failed to start (retry: yes, after a fix)

``retryable`` on each class says whether trying the same thing again can help.
"""

from __future__ import annotations


class TonebridgeError(Exception):
    """Base of every error tonebridge raises on purpose."""

    retryable: bool = False


class ConfigError(TonebridgeError):
    """Settings are missing or invalid (the message names the variable), or a command's
    optional extra is not installed (it names the extra: :mod:`tonebridge.extras`)."""


class DecodeError(TonebridgeError):
    """A payload is not a decodable tonebridge event (garbage, truncated, wrong marker)."""


class UnknownSchemaError(DecodeError):
    """The payload's writer-schema fingerprint is not registered here."""


class SchemaValidationError(DecodeError):
    """A record does not fit its Avro schema (on encode or decode)."""


class HandleError(TonebridgeError):
    """A decoded event could not be applied."""


class InvalidEventError(HandleError):
    """The event is well formed but makes no sense (rating 9, unknown A/B test, ...).

    ``field`` names the offending field when one does (the API's 422 points at it)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidRowsError(InvalidEventError):
    """Rows of an imported dataset file break the input rules; ``problems`` lists each
    ``(row, field, message)`` (rows counted from 1, a CSV header not counted)."""

    def __init__(self, problems: list[tuple[int, str, str]]) -> None:
        self.problems = problems
        first = "; ".join(f"row {row}: {message}" for row, _, message in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"{len(problems)} bad row(s) in the dataset file: {first}{more}")


class TrainingError(HandleError):
    """A training run failed; the job ends ``failed`` with this message."""


class UnsupportedModelError(TrainingError):
    """The base model cannot be fine-tuned here (API-only model, QLoRA without a GPU, ...)."""


class ProduceError(TonebridgeError):
    """The broker did not acknowledge a record."""

    retryable = True


class RouteError(TonebridgeError):
    """The experiment router knows no model to route to: an unknown test, or a model name
    with no running test and no production model seen yet."""

    retryable = True


class StoreError(TonebridgeError):
    """The database refused an operation."""

    retryable = True


class StoreUnavailableError(StoreError):
    """The database cannot be reached: refused, timed out, dropped, starting, or no such
    database yet. Trying again later can help; the message is for logs, not for clients."""

    retryable = True


class DataRefusedError(StoreError):
    """The database refused a value itself (a NUL in text, too long, out of range)."""

    retryable = False


class NotFoundError(StoreError):
    """No row with that key."""

    retryable = False


class ConflictError(StoreError):
    """The row's current state does not allow the change (stop a finished job, ...)."""

    retryable = False


class IntegrityError(StoreError):
    """A constraint was violated (rating out of range, unknown foreign key, ...)."""

    retryable = False


class BrokerError(TonebridgeError):
    """The embedded broker could not be started or did not become ready."""

    retryable = True
