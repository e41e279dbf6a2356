"""The one settings class. Nothing else in tonebridge reads ``os.environ``.

Every field maps to an environment variable of the same name (upper case). A bad value
fails at start-up with a message naming the variable (see :func:`load_settings`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tonebridge.errors import ConfigError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class Settings(BaseSettings):
    """Runtime configuration, frozen once read."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    # --- where state lives on the embedded defaults -------------------------------------
    data_dir: Path = Path("var")

    # --- Kafka ---------------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = None
    embedded_broker_port: int = Field(default=9092, ge=1, le=65535)
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_topic_prefix: str = ""
    kafka_topic_partitions: int = Field(default=4, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    # Small by default: the embedded broker's group coordinator waits out the whole
    # rebalance timeout before a join completes, so large values cost every start.
    kafka_rebalance_timeout_s: float = Field(default=3.0, gt=0)
    kafka_session_timeout_s: float = Field(default=10.0, gt=0)
    # How long a consumer's fetch may wait for data. The embedded broker holds a fetch for the
    # whole wait even when data arrives, so this bounds every consumer hop's latency there.
    kafka_fetch_max_wait_ms: int = Field(default=20, ge=0, le=10_000)

    # --- stream worker ---------------------------------------------------------------------
    # faust app id: the agents' consumer group and the prefix of their changelog topics.
    worker_id: str = "tonebridge-worker"
    # YAML file of retraining and promotion policies (format: tonebridge/decisions/retraining.py);
    # unset: the packaged tonebridge/decisions/default_policies.yaml.
    retrain_policies_file: Path | None = None
    # false: no retraining policy runs, whatever the file (its promotion section still applies).
    retrain_enabled: bool = True

    # --- input rules and bounded state (README: "Limits and bad input") -------------------
    # How far in the future an event time may lie (clock skew); older times are accepted.
    event_time_max_future_s: float = Field(default=300.0, ge=0)
    # Distinct transformation types kept per model in the statistics; the rest count as "other".
    feedback_max_transformation_types: int = Field(default=50, ge=1, le=100)
    # Event ids the stream folds remember per source partition, to count a retried event once:
    # those seen within the horizon (record time), and never more than the count.
    stream_dedup_horizon_s: float = Field(default=3600.0, gt=0)
    stream_dedup_max_ids: int = Field(default=1_000_000, ge=1000)
    # How often the worker looks for A/B tests past their maximum duration or idle timeout
    # (a test with no traffic has no event to end it); the limits themselves are per test.
    abtest_limits_check_s: float = Field(default=30.0, gt=0, le=3600)

    # --- database ------------------------------------------------------------------------
    database_url: str | None = None
    postgres_host: str | None = None
    postgres_port: int = Field(default=5432, ge=1, le=65535)
    postgres_user: str = "postgres"
    postgres_password: SecretStr = SecretStr("")
    postgres_db: str = "tonebridge"

    # --- cache / rate limits -------------------------------------------------------------
    redis_host: str | None = None
    redis_port: int = Field(default=6379, ge=1, le=65535)

    # --- MLflow and experiment trackers --------------------------------------------------
    mlflow_tracking_uri: str | None = None
    mlflow_experiment_name: str = "tonebridge-training"
    # Where new experiments keep their artifacts (the adapters): s3://bucket/prefix (the [s3]
    # extra), gs://bucket/prefix (the [gcs] extra), or a folder. Unset: the tracking server's
    # default, or DATA_DIR/mlartifacts with the local store. An existing experiment keeps its own.
    mlflow_artifact_uri: str | None = None
    # S3-compatible stores (MinIO, Ceph, R2): their endpoint; unset is AWS itself. The names are
    # those MLflow and boto3 read, so a deployment sets each once (see object_store_environment).
    mlflow_s3_endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_default_region: str | None = None
    # GCS: a service account key file (unset: the machine's own identity).
    google_application_credentials: Path | None = None
    wandb_api_key: SecretStr | None = None
    wandb_project: str | None = None
    wandb_entity: str | None = None

    # --- optional third-party keys (never logged) ----------------------------------------
    openai_api_key: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None
    google_api_key: SecretStr | None = None
    huggingface_token: SecretStr | None = None

    # --- training defaults ---------------------------------------------------------------
    default_batch_size: int = Field(default=8, ge=1)
    default_learning_rate: float = Field(default=5e-5, gt=0, lt=1)
    default_epochs: int = Field(default=3, ge=1)
    fp16_training: bool = False
    gradient_checkpointing: bool = False
    lora_r: int = Field(default=8, ge=1)
    lora_alpha: int = Field(default=32, ge=1)
    lora_dropout: float = Field(default=0.1, ge=0, lt=1)
    max_seq_length: int = Field(default=256, ge=8)
    # Continual training: a retraining replays this share of the feedback older than its
    # window (its parent's earlier feedback and its ancestors'), so it keeps what they taught.
    replay_fraction: float = Field(default=0.3, ge=0, le=1)

    # --- trainer -------------------------------------------------------------------------
    # How long a job fired by a retraining policy waits for the database sink to store the
    # feedback that fired it before building its dataset from what is stored.
    trainer_feedback_wait_s: float = Field(default=60.0, ge=0)
    # A running job's heartbeat: its trainer refreshes it every interval; any trainer fails a
    # running job whose heartbeat is older than the lease (its trainer died, whatever its id).
    trainer_heartbeat_s: float = Field(default=10.0, gt=0)
    trainer_job_lease_s: float = Field(default=120.0, gt=0)
    # Transient failures (database, broker, MLflow unreachable) are retried with exponential
    # backoff and full jitter, each pause at most the cap; model commands and registrations
    # give up after the attempts (dead letter / failed job), training commands never do.
    trainer_retry_base_s: float = Field(default=0.2, gt=0)
    trainer_retry_cap_s: float = Field(default=30.0, gt=0)
    trainer_retry_attempts: int = Field(default=8, ge=1, le=100)

    # --- multi-GPU training (docs/trainer.md: "Several GPUs") -----------------------------
    # Processes one training job runs in (DDP through torchrun, one per GPU): 1 trains in the
    # trainer process itself; "auto" uses every visible CUDA device (1 without any).
    train_processes: Annotated[int, Field(ge=1)] | Literal["auto"] = 1
    # A DeepSpeed config (ZeRO stage and its options) for the trainer's TrainingArguments; set,
    # a job always runs under torchrun. Needs the deepspeed package (not a tonebridge dependency).
    train_deepspeed_config: Path | None = None
    # Set by torchrun in each process of a distributed run, never by hand: only rank 0 saves
    # the adapter, and a process whose rank is not 0 never registers a model.
    rank: int = Field(default=0, ge=0)
    local_rank: int = Field(default=0, ge=0)
    world_size: int = Field(default=1, ge=1)

    # --- operating: metrics and logs -----------------------------------------------------
    # Where `tonebridge worker` and `tonebridge trainer` serve /metrics and /healthz; 0 is off
    # (the default, so several processes on one machine never clash). The API serves its own.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    # "json": one JSON object per log line, with job, command and event ids where known.
    log_format: Literal["text", "json"] = "text"

    # --- HTTP API ------------------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_admin_keys: tuple[SecretStr, ...] = ()
    api_ingest_keys: tuple[SecretStr, ...] = ()
    api_rate_limit_per_minute: int = Field(default=600, ge=1)
    # How long the API's views of the agents' tables (feedback stats, A/B tests) let a fetch
    # wait for new records. Kafka answers a fetch as soon as records arrive, so this only sets
    # how often an idle view asks again; the embedded broker holds every fetch this long, so
    # there it is also how stale a view may be (``fresh`` reads wait for the latest writes).
    api_views_fetch_max_wait_ms: int = Field(default=200, ge=0, le=10_000)

    # --- hardening: Kafka client certificates (mTLS) and the API's bounds -----------------
    # A client certificate chain and its key, presented by every Kafka client (both or none).
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    # Idempotency-Key replies: kept this long; at most this many keys per in-memory store
    # (oldest evicted first); a reply body larger than this is not kept (see api/idempotency).
    api_idempotency_ttl_s: int = Field(default=86_400, ge=1, le=30 * 86_400)
    api_idempotency_max_keys: int = Field(default=100_000, ge=1)
    api_idempotency_max_body_bytes: int = Field(default=64 * 1024, ge=0, le=8 * 1024 * 1024)
    # Rate-limit windows one in-memory store counts at once (oldest evicted first).
    api_rate_limit_max_buckets: int = Field(default=100_000, ge=1)
    # A dataset file uploaded to POST /datasets: at most this many bytes (the request body may
    # add a little multipart framing); larger uploads are refused with 413 as they arrive.
    api_dataset_max_upload_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, le=2 * 1024 * 1024 * 1024
    )

    @field_validator(
        "kafka_bootstrap_servers", "database_url", "mlflow_tracking_uri", "mlflow_artifact_uri",
        "mlflow_s3_endpoint_url",
    )  # fmt: skip
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator(
        "retrain_policies_file", "kafka_ssl_certfile", "kafka_ssl_keyfile",
        "google_application_credentials", "train_deepspeed_config", mode="before",
    )  # fmt: skip
    @classmethod
    def _blank_path_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def uses_embedded_broker(self) -> bool:
        return self.kafka_bootstrap_servers is None

    @property
    def bootstrap_servers(self) -> str:
        """The Kafka to talk to: the configured one, else the embedded broker's port."""
        if self.kafka_bootstrap_servers:
            return self.kafka_bootstrap_servers
        return f"127.0.0.1:{self.embedded_broker_port}"

    @property
    def sqlalchemy_url(self) -> str:
        """``DATABASE_URL``, else PostgreSQL from ``POSTGRES_*``, else the embedded SQLite."""
        if self.database_url:
            return self.database_url
        if self.postgres_host:
            user = quote(self.postgres_user, safe="")
            password = quote(self.postgres_password.get_secret_value(), safe="")
            auth = f"{user}:{password}" if password else user
            return (
                f"postgresql+asyncpg://{auth}@{self.postgres_host}:"
                f"{self.postgres_port}/{self.postgres_db}"
            )
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tonebridge.db').as_posix()}"

    @property
    def mlflow_uri(self) -> str:
        """``MLFLOW_TRACKING_URI``, else a local sqlite tracking store under ``data_dir``."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.data_dir / 'mlflow.db').resolve().as_posix()}"

    @property
    def mlflow_artifact_root(self) -> Path:
        return (self.data_dir / "mlartifacts").resolve()

    def object_store_environment(self) -> dict[str, str]:
        """The variables MLflow's S3 and GCS artifact stores read (boto3, google-auth), for
        those set: the artifact store clients take them from the environment only."""
        secret = self.aws_secret_access_key
        values = {
            "MLFLOW_S3_ENDPOINT_URL": self.mlflow_s3_endpoint_url,
            "AWS_ACCESS_KEY_ID": self.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": secret.get_secret_value() if secret else None,
            "AWS_DEFAULT_REGION": self.aws_default_region,
            "GOOGLE_APPLICATION_CREDENTIALS": self.google_application_credentials,
        }
        return {name: str(value) for name, value in values.items() if value is not None}

    def topic_name(self, base: str) -> str:
        """The full topic name, with the deployment's prefix (tests use a unique one)."""
        return f"{self.kafka_topic_prefix}{base}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise :class:`ConfigError` naming bad variables."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        names = ", ".join(
            "_".join(str(part) for part in err["loc"]).upper() + f" ({err['msg']})"
            for err in exc.errors()
        )
        msg = f"invalid configuration: {names}"
        raise ConfigError(msg) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
