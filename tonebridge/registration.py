"""Registering a model no training job made: ``POST /models`` and ``tonebridge models register``.

Two kinds: a *base* model (a Hugging Face hub id or a local folder of weights), registered as
version ``base`` of its name like :meth:`ModelRepository.ensure_base` does for training, and
an *adapter* trained elsewhere (a local PEFT adapter folder and its base model), registered
as a draft. Registration adds the ``models`` row and announces it with a ModelRegistered
event (``job_id`` empty: no job made it) through the one publisher.

Registering the same model again answers the same row and sends the same event id (derived
from the model id), so consumers count it once; the same id, or the same name and version,
with other values is a :class:`ConflictError`. An adapter's default version is ``ext-`` and
a digest of its files (the same folder, the same version); numeric versions are left to the
MLflow registry, whose trained versions they number.

The checks here are I/O on the local disk (and the hub when online): they raise
:class:`InvalidEventError` naming the field at fault.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from tonebridge import rules
from tonebridge.avro.codec import Record
from tonebridge.client.publisher import ProducerPublisher, Publisher
from tonebridge.errors import ConflictError, InvalidEventError, NotFoundError
from tonebridge.settings import Settings
from tonebridge.storage import Database, ModelRepository
from tonebridge.storage.models import BASE_VERSION, base_model_id
from tonebridge.storage.records import ModelRecord
from tonebridge.topics.models import MODEL_EVENTS_TOPIC, MODEL_REGISTERED, model_registered

Kind = Literal["base", "adapter"]
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
_NAMESPACE = uuid.UUID("0b7f6c52-8a0e-4f51-9d0b-3f1d7c5e2a91")
_COMPARED = ("name", "version", "model_type", "base_model", "path")
NAME = rules.TextRule(rules.LABEL_LENGTH, identifier=True)  # the registered name: String(255)
VERSION = rules.TextRule(rules.NAME_LENGTH, required=False, identifier=True)
SOURCE = rules.TextRule(1000)
_RULES = {
    "name": NAME,
    "source": SOURCE,
    "base_model": rules.TextRule(1000, required=False),
    "model_type": rules.TextRule(rules.NAME_LENGTH, identifier=True),
    "version": VERSION,
    "model_id": rules.OPTIONAL_ID,
}


@dataclass(frozen=True)
class ModelSpec:
    """What to register. ``source``: the base model (hub id or local folder), or the adapter
    folder; ``base_model``: an adapter's base (default: its ``adapter_config.json``'s)."""

    kind: Kind
    name: str
    source: str
    base_model: str | None = None
    model_type: str = "tone_adjustment"
    version: str | None = None
    model_id: str | None = None


@dataclass(frozen=True)
class Registered:
    """The registered row, the ModelRegistered event sent for it, and whether it is new."""

    model: ModelRecord
    event: Record
    created: bool


def invalid(message: str, *, field: str) -> InvalidEventError:
    return InvalidEventError(f"{field}: {message}", field=field)


def registration_spec(kind: str, **fields: str | None) -> ModelSpec:
    """A :class:`ModelSpec` from untyped input (the CLI's), checked by the input rules."""
    if kind not in ("base", "adapter"):
        msg = f"{kind!r} is neither base nor adapter"
        raise invalid(msg, field="kind")
    for field, rule in _RULES.items():
        try:
            rules.check_text(fields.get(field), field, rule)
        except InvalidEventError as exc:
            raise InvalidEventError(str(exc), field=field) from None
    checked = {k: v for k, v in fields.items() if v is not None}
    return ModelSpec(kind="base" if kind == "base" else "adapter", **checked)


def resolve(spec: ModelSpec, hub_token: str | None = None) -> ModelSpec:
    """``spec`` with its source checked, its base model, version and model id filled in."""
    if spec.kind == "adapter":
        spec = _resolve_adapter(spec)
    elif spec.base_model not in (None, spec.source):
        msg = "is for adapters: a base model's source is the base model"
        raise invalid(msg, field="base_model")
    else:
        source = _base_source(spec.source, hub_token)
        spec = replace(spec, source=source, base_model=source, version=spec.version or BASE_VERSION)
    if spec.version is not None and spec.version.isdigit():
        msg = f"{spec.version!r} is numeric: numeric versions are the MLflow registry's"
        raise invalid(msg, field="version")
    return replace(spec, model_id=spec.model_id or _default_id(spec))


def _default_id(spec: ModelSpec) -> str:
    if spec.version == BASE_VERSION:
        return base_model_id(spec.name)  # the id training gives the same base row
    return uuid.uuid5(_NAMESPACE, f"{spec.name}\n{spec.version}").hex


def _folder(source: str) -> Path | None:
    """``source`` as an absolute folder path, or None if it names no folder here."""
    try:
        path = Path(source).expanduser()
        return path.resolve() if path.is_dir() else None
    except (OSError, RuntimeError, ValueError):  # too long, an unknown ~user, ...
        return None


def _base_source(source: str, hub_token: str | None) -> str:
    """A local folder (made absolute) or a hub id (checked on the hub when online)."""
    folder = _folder(source)
    if folder is not None:
        return str(folder)
    if source.startswith((".", "/", "~")) or not HUB_ID.match(source):
        msg = f"{source!r} is neither a local folder nor a Hugging Face model id"
        raise invalid(msg, field="source")
    _check_on_hub(source, hub_token)
    return source


def _check_on_hub(repo_id: str, token: str | None) -> None:
    """Ask the hub whether ``repo_id`` exists (with the token: gated and private models);
    offline (``HF_HUB_OFFLINE``) the id's shape is all that is checked."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    if constants.HF_HUB_OFFLINE:
        return
    try:
        HfApi(token=token or None).model_info(repo_id)
    except GatedRepoError as exc:
        msg = f"{repo_id!r} is gated: set HUGGINGFACE_TOKEN to a token with access"
        raise invalid(msg, field="source") from exc
    except RepositoryNotFoundError as exc:
        msg = f"no model {repo_id!r} on the Hugging Face hub (or it is private)"
        raise invalid(msg, field="source") from exc
    except (HfHubHTTPError, OSError) as exc:  # the hub is down or unreachable
        msg = f"the Hugging Face hub could not be asked about {repo_id!r} ({exc}); retry later"
        raise invalid(msg, field="source") from exc


def _resolve_adapter(spec: ModelSpec) -> ModelSpec:
    folder = _folder(spec.source)
    if folder is None:
        msg = f"{spec.source!r} is not a folder"
        raise invalid(msg, field="source")
    config = _adapter_config(folder)
    base = spec.base_model or config.get("base_model_name_or_path")
    if not isinstance(base, str) or not base:
        msg = f"the adapter's {ADAPTER_CONFIG} names no base model: give base_model"
        raise invalid(msg, field="base_model")
    try:
        rules.check_text(base, "base_model", rules.TextRule(rules.TEXT_LENGTH))
    except InvalidEventError as exc:
        raise InvalidEventError(str(exc), field="base_model") from None
    version = spec.version or f"ext-{_digest(folder)[:12]}"
    return replace(spec, source=str(folder), base_model=base, version=version)


def _adapter_config(folder: Path) -> dict[str, Any]:
    """The PEFT config of the adapter in ``folder``; why not, naming ``source``."""
    weights = [name for name in ADAPTER_WEIGHTS if (folder / name).is_file()]
    if not (folder / ADAPTER_CONFIG).is_file() or not weights:
        msg = f"{str(folder)!r} holds no PEFT adapter ({ADAPTER_CONFIG} and adapter weights)"
        raise invalid(msg, field="source")
    try:
        config = json.loads((folder / ADAPTER_CONFIG).read_text())
    except (OSError, ValueError) as exc:
        msg = f"{ADAPTER_CONFIG} cannot be read: {exc}"
        raise invalid(msg, field="source") from exc
    if not isinstance(config, dict) or "peft_type" not in config:
        msg = f"{ADAPTER_CONFIG} is not a PEFT adapter config"
        raise invalid(msg, field="source")
    return config


def _digest(folder: Path) -> str:
    """SHA-256 over the adapter's config and weights (names and contents)."""
    digest = hashlib.sha256()
    for name in (ADAPTER_CONFIG, *ADAPTER_WEIGHTS):
        if (folder / name).is_file():
            digest.update(name.encode())
            with (folder / name).open("rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


async def add_model(models: ModelRepository, spec: ModelSpec) -> Registered:
    """Add the row of a :func:`resolve`\\ d ``spec`` (or find it), and its event, unsent:
    the caller publishes it (:func:`register`, or the API through its services)."""
    assert spec.model_id is not None  # noqa: S101 - resolved
    known = await _existing(models, spec.model_id)
    model = known or await _add(models, spec)
    _require_same(model, spec)
    return Registered(model, registered_event(model), created=known is None)


async def register(models: ModelRepository, events: Publisher, spec: ModelSpec) -> Registered:
    """Add the row of a resolved ``spec`` (or find it); announce it on the model events topic."""
    done = await add_model(models, spec)
    await events.publish(MODEL_EVENTS_TOPIC, done.event, schema=MODEL_REGISTERED)
    return done


async def _existing(models: ModelRepository, model_id: str) -> ModelRecord | None:
    try:
        return await models.get(model_id)
    except NotFoundError:
        return None


async def _add(models: ModelRepository, spec: ModelSpec) -> ModelRecord:
    assert spec.model_id is not None and spec.version is not None  # noqa: S101 - resolved
    assert spec.base_model is not None  # noqa: S101 - resolved
    if spec.kind == "base" and spec.version == BASE_VERSION:
        return await models.ensure_base(
            spec.name, spec.base_model, spec.model_type, model_id=spec.model_id, path=spec.source
        )
    return await models.add(
        name=spec.name,
        version=spec.version,
        model_type=spec.model_type,
        base_model=spec.base_model,
        path=spec.source,
        lineage={"registered": spec.kind},
        model_id=spec.model_id,
    )


def _require_same(model: ModelRecord, spec: ModelSpec) -> None:
    """A 409 unless ``model`` is what ``spec`` registers (a repeat is no conflict)."""
    wanted = {"path": spec.source, **{k: getattr(spec, k) for k in _COMPARED if k != "path"}}
    differ = [k for k in _COMPARED if getattr(model, k) != wanted[k]]
    if model.id != spec.model_id:
        differ.insert(0, "model_id")
    if differ:
        shown = ", ".join(f"{k} {getattr(model, k if k != 'model_id' else 'id')!r}" for k in differ)
        msg = f"model {model.id!r} ({model.name} v{model.version}) is registered with {shown}"
        raise ConflictError(msg)


async def register_with(settings: Settings, spec: ModelSpec) -> Registered:
    """Resolve and register ``spec`` on the configured database and broker (the CLI's way)."""
    token = settings.huggingface_token
    resolved = await asyncio.to_thread(resolve, spec, token.get_secret_value() if token else None)
    async with Database.from_settings(settings) as database, ProducerPublisher(settings) as events:
        return await register(ModelRepository(database), events, resolved)


def registered_event(model: ModelRecord) -> Record:
    """The ModelRegistered of a registered row; its event id is derived from the model id."""
    return model_registered(
        model_id=model.id,
        name=model.name,
        version=model.version,
        base_model=model.base_model,
        model_type=model.model_type,
        job_id="",
        artifact_uri=model.path,
        event_id=str(uuid.uuid5(_NAMESPACE, f"registered\n{model.id}")),
        event_time=model.created_at,
    )
