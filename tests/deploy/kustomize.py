"""A small kustomize renderer, so that the deployment tests run where no kubectl is installed.

It implements the subset of kustomize that deploy/ uses, with kustomize's semantics:

- ``resources``: YAML files and directories holding a kustomization.yaml;
- ``namespace``: set on every resource of the kustomization, sub-kustomizations included;
- ``images``: ``name`` with ``newName``, ``newTag`` or ``digest``, in pod templates;
- ``configMapGenerator``: ``literals`` and ``files``, ``behavior: merge`` or ``replace`` over a
  base's generator, ``options.labels`` and ``options.disableNameSuffixHash``. The name suffix is
  kustomize's content hash, and pod specs that refer to the ConfigMap are rewritten to it;
- ``patches``: inline RFC 6902 JSON patches with a ``target`` (group, version, kind, name as a
  regular expression, namespace, labelSelector).

Any other kustomization field raises UnsupportedKustomization rather than being ignored.
tests/deploy/test_kustomize.py compares the output with ``kubectl kustomize`` where kubectl exists.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "images",
    "configMapGenerator",
    "patches",
}
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
}


class UnsupportedKustomization(ValueError):
    """Raised when a kustomization uses a field or patch form this renderer does not implement."""


@dataclass
class Generated:
    """A generated ConfigMap before its name gets the hash suffix."""

    resource: Resource
    hashed: bool = True


@dataclass
class Build:
    """Resources of one kustomization level, with the generated ConfigMaps kept apart."""

    resources: list[Resource] = field(default_factory=list)
    generated: dict[str, Generated] = field(default_factory=dict)

    def all(self) -> list[Resource]:
        return self.resources + [item.resource for item in self.generated.values()]


def render(directory: Path) -> list[Resource]:
    """Render the kustomization in ``directory`` the way ``kubectl kustomize`` does."""
    build = _build(directory.resolve())
    names = {}
    for original, item in build.generated.items():
        if item.hashed:
            item.resource["metadata"]["name"] = f"{original}-{configmap_hash(item.resource)}"
        names[original] = item.resource["metadata"]["name"]
    for resource in build.resources:
        _rename_configmap_references(resource, names)
    return build.all()


def _build(directory: Path) -> Build:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise UnsupportedKustomization(
            f"{directory}/kustomization.yaml uses {sorted(unknown)}, which this renderer does not "
            "implement; extend tests/deploy/kustomize.py or use the supported fields"
        )

    build = Build()
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            nested = _build(path)
            build.resources.extend(nested.resources)
            build.generated.update(nested.generated)
        else:
            text = path.read_text(encoding="utf-8")
            build.resources.extend(doc for doc in yaml.safe_load_all(text) if doc)

    for generator in kustomization.get("configMapGenerator", []):
        _generate_configmap(directory, generator, build)

    for patch in kustomization.get("patches", []):
        _apply_patch(patch, build.all())

    for image in kustomization.get("images", []):
        for resource in build.all():
            _set_image(resource, image)

    namespace = kustomization.get("namespace")
    if namespace:
        for resource in build.all():
            if resource.get("kind") not in CLUSTER_SCOPED_KINDS:
                resource.setdefault("metadata", {})["namespace"] = namespace
    return build


def _generate_configmap(directory: Path, generator: dict[str, Any], build: Build) -> None:
    name = generator["name"]
    data: dict[str, str] = {}
    for literal in generator.get("literals", []):
        key, separator, value = literal.partition("=")
        if not separator:
            raise UnsupportedKustomization(f"literal {literal!r} of {name} has no '='")
        data[key] = value
    for entry in generator.get("files", []):
        key, separator, source = entry.partition("=")
        if not separator:
            key, source = Path(entry).name, entry
        data[key] = (directory / source).read_text(encoding="utf-8")

    options = generator.get("options", {})
    behavior = generator.get("behavior", "create")
    if behavior == "create":
        if name in build.generated:
            raise UnsupportedKustomization(
                f"ConfigMap {name} is generated twice; use behavior: merge"
            )
        resource: Resource = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
        if options.get("labels"):
            resource["metadata"]["labels"] = dict(options["labels"])
        resource["data"] = data
        build.generated[name] = Generated(resource, not options.get("disableNameSuffixHash", False))
    elif behavior in ("merge", "replace"):
        if name not in build.generated:
            raise UnsupportedKustomization(
                f"behavior {behavior} for {name}, which no base generates"
            )
        existing = build.generated[name].resource
        existing["data"] = {**existing["data"], **data} if behavior == "merge" else data
    else:
        raise UnsupportedKustomization(f"unknown generator behavior {behavior!r} for {name}")


def configmap_hash(resource: Resource) -> str:
    """Return kustomize's 10-character name suffix for a generated ConfigMap.

    kustomize hashes the JSON of kind, name, data and binaryData with SHA-256 and maps the
    characters 0, 1, 3, a and e of the first ten hex digits to g, h, k, m and t. The name in
    that JSON is empty in kustomize 5 (checked against kubectl 1.32's kustomize 5.5.0), so equal
    data gives an equal suffix whatever the ConfigMap is called.
    """
    encoded: dict[str, Any] = {"kind": "ConfigMap", "name": "", "data": resource.get("data", {})}
    if resource.get("binaryData"):
        encoded["binaryData"] = resource["binaryData"]
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Go's encoding/json escapes these three characters for safe embedding in HTML.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _rename_configmap_references(resource: Resource, names: dict[str, str]) -> None:
    for pod in _pod_specs(resource):
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef")
                if ref and ref.get("name") in names:
                    ref["name"] = names[ref["name"]]
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("configMapKeyRef")
                if ref and ref.get("name") in names:
                    ref["name"] = names[ref["name"]]
        for volume in pod.get("volumes", []):
            ref = volume.get("configMap")
            if ref and ref.get("name") in names:
                ref["name"] = names[ref["name"]]


def _pod_specs(resource: Resource) -> list[dict[str, Any]]:
    spec = resource.get("spec", {})
    if resource.get("kind") == "Pod":
        return [spec]
    template = spec.get("template", {}).get("spec")
    if template is not None:
        return [template]
    job_template = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    return [job_template] if job_template is not None else []


def _set_image(resource: Resource, image: dict[str, str]) -> None:
    for pod in _pod_specs(resource):
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name, tag, digest = _split_image(container["image"])
            if name != image["name"]:
                continue
            name = image.get("newName", name)
            if "digest" in image:
                container["image"] = f"{name}@{image['digest']}"
            elif "newTag" in image:
                container["image"] = f"{name}:{image['newTag']}"
            else:
                suffix = ""
                if digest:
                    suffix = f"@{digest}"
                elif tag:
                    suffix = f":{tag}"
                container["image"] = f"{name}{suffix}"


def _split_image(image: str) -> tuple[str, str, str]:
    name, _, digest = image.partition("@")
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = name.rpartition(":")
    return name, tag, digest


def _matches(resource: Resource, target: dict[str, Any]) -> bool:
    group, _, version = resource.get("apiVersion", "").rpartition("/")
    metadata = resource.get("metadata", {})
    checks = {
        "group": group,
        "version": version,
        "kind": resource.get("kind", ""),
        "namespace": metadata.get("namespace", ""),
    }
    for key, actual in checks.items():
        if key in target and target[key] != actual:
            return False
    if "name" in target and not re.fullmatch(target["name"], metadata.get("name", "")):
        return False
    if "labelSelector" in target:
        labels = metadata.get("labels", {})
        for requirement in target["labelSelector"].split(","):
            key, _, value = requirement.partition("=")
            if labels.get(key.strip()) != value.strip():
                return False
    unknown = set(target) - {*checks, "name", "labelSelector"}
    if unknown:
        raise UnsupportedKustomization(f"patch target fields {sorted(unknown)} are not supported")
    return True


def _apply_patch(patch: dict[str, Any], resources: list[Resource]) -> None:
    if "path" in patch or "target" not in patch or "patch" not in patch:
        raise UnsupportedKustomization(
            f"only inline JSON patches with a target are supported, got keys {sorted(patch)}"
        )
    operations = yaml.safe_load(patch["patch"])
    if not isinstance(operations, list):
        raise UnsupportedKustomization("strategic merge patches are not supported; use JSON patch")
    matched = [resource for resource in resources if _matches(resource, patch["target"])]
    if not matched:
        raise UnsupportedKustomization(f"patch target {patch['target']} matches no resource")
    for resource in matched:
        for operation in operations:
            apply_json_patch_operation(resource, operation)


def apply_json_patch_operation(document: Any, operation: dict[str, Any]) -> None:
    """Apply one RFC 6902 ``add``, ``replace`` or ``remove`` operation in place."""
    op = operation["op"]
    tokens = [
        token.replace("~1", "/").replace("~0", "~") for token in operation["path"].split("/")[1:]
    ]
    if not tokens:
        raise UnsupportedKustomization("a JSON patch of the whole document is not supported")
    parent = document
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    last = tokens[-1]
    value = copy.deepcopy(operation.get("value"))

    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if op == "add":
            parent.insert(index, value)
        elif op == "replace":
            parent[index] = value
        elif op == "remove":
            del parent[index]
        else:
            raise UnsupportedKustomization(f"JSON patch op {op!r} is not supported")
        return

    if op in ("replace", "remove") and last not in parent:
        raise KeyError(f"JSON patch {op} of {operation['path']}: no such member")
    if op in ("add", "replace"):
        parent[last] = value
    elif op == "remove":
        del parent[last]
    else:
        raise UnsupportedKustomization(f"JSON patch op {op!r} is not supported")
