"""Just enough of kustomize to render deploy/k8s without a kubectl binary.

Supports the kustomization fields deploy/k8s uses (``resources``, ``namespace``, ``images``,
``patches`` with a ``path`` to a strategic-merge patch) and refuses any other, so a new field
cannot slip past the tests unrendered. Strategic merge as kustomize does it for these files:
maps merge key by key, lists of named items (containers, env, volumes, ports) merge by name,
other lists are replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]
SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
_CLUSTER_SCOPED = {"Namespace"}


class UnsupportedKustomization(ValueError):
    """The kustomization uses a field this renderer does not implement."""


def load_documents(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(directory: Path) -> list[Doc]:
    """The documents ``kubectl kustomize directory`` would print (for the supported fields)."""
    kustomization: Doc = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED
    if unsupported:
        msg = f"{directory}: unsupported kustomization fields {sorted(unsupported)}"
        raise UnsupportedKustomization(msg)
    docs = [doc for entry in kustomization.get("resources", []) for doc in _load(directory / entry)]
    for patch in kustomization.get("patches", []):
        for change in load_documents(directory / patch["path"]):
            _apply(docs, change)
    for image in kustomization.get("images", []):
        for container in containers(docs):
            container["image"] = _retagged(container["image"], image)
    if "namespace" in kustomization:
        for doc in docs:
            if doc["kind"] not in _CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = kustomization["namespace"]
    return docs


def _load(path: Path) -> list[Doc]:
    return render(path) if path.is_dir() else load_documents(path)


def _apply(docs: list[Doc], patch: Doc) -> None:
    key = (patch["kind"], patch["metadata"]["name"])
    targets = [doc for doc in docs if (doc["kind"], doc["metadata"]["name"]) == key]
    if len(targets) != 1:
        msg = f"patch for {key} matches {len(targets)} resources"
        raise UnsupportedKustomization(msg)
    merge(targets[0], patch)


def merge(target: Any, patch: Any) -> Any:
    """Strategic merge of ``patch`` into ``target`` (in place where both are maps)."""
    if isinstance(target, dict) and isinstance(patch, dict):
        for key, value in patch.items():
            target[key] = merge(target[key], value) if key in target else value
        return target
    if _named_list(target) and _named_list(patch):
        by_name = {item["name"]: item for item in target}
        for item in patch:
            if item["name"] in by_name:
                merge(by_name[item["name"]], item)
            else:
                target.append(item)
        return target
    return patch


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)


def _retagged(image: str, rule: Doc) -> str:
    name, _, tag = image.partition(":")
    if name != rule["name"]:
        return image
    new_tag = rule.get("newTag", tag)
    return rule.get("newName", name) + (f":{new_tag}" if new_tag else "")


def pod_spec(doc: Doc) -> Doc | None:
    """The pod template's spec of a workload (Deployment, StatefulSet, Job), else None."""
    template = doc.get("spec", {}).get("template")
    return template["spec"] if template else None


def containers(docs: list[Doc]) -> list[Doc]:
    specs = [spec for spec in map(pod_spec, docs) if spec]
    return [c for spec in specs for c in spec.get("initContainers", []) + spec["containers"]]
