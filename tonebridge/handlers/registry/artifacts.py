"""Where adapters are stored: MLflow's artifact store, a folder, S3 or GCS.

The registry uploads each adapter folder as run artifacts, and a version's source is their
URI (``file://``, ``s3://``, ``gs://``). MLflow's S3 store talks through boto3 and its GCS
store through google-cloud-storage (the ``[s3]`` and ``[gcs]`` extras); both read their
endpoint and credentials from the process environment only, so :func:`use_object_store`
exports the configured ones there, once per process. Values from the settings win over what
the environment held, and the same settings always export the same values, so concurrent
uploads in one process never see them change.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from tonebridge.settings import Settings


def use_object_store(settings: Settings) -> None:
    """Hand the artifact store's endpoint and credentials to MLflow's clients."""
    os.environ.update(settings.object_store_environment())


def artifact_location(settings: Settings) -> str | None:
    """Where a new experiment keeps its artifacts; None leaves it to the tracking server."""
    if settings.mlflow_artifact_uri is not None:
        return settings.mlflow_artifact_uri
    if settings.mlflow_tracking_uri is None:
        return settings.mlflow_artifact_root.as_uri()
    return None


def local_copy(uri: str, settings: Settings, dst: Path | None = None) -> Path:
    """A local folder holding the artifacts at ``uri``, from the configured stores."""
    use_object_store(settings)
    return local_folder(uri, settings.mlflow_uri, dst)


def local_folder(uri: str, tracking_uri: str, dst: Path | None = None) -> Path:
    """The folder itself when ``uri`` is local, else MLflow's download of it (into ``dst``,
    or a fresh temporary folder)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(url2pathname(parsed.path)) if parsed.scheme else Path(uri)
    from mlflow.artifacts import download_artifacts

    target = str(dst) if dst is not None else None
    return Path(download_artifacts(uri, dst_path=target, tracking_uri=tracking_uri))
