"""The kustomize renderer of the tests: its parts, and its output against kubectl's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, OVERLAYS
from tests.deploy.kustomize import (
    UnsupportedKustomization,
    apply_json_patch_operation,
    configmap_hash,
    render,
)


def test_configmap_hash_matches_kustomize() -> None:
    # kubectl 1.32 (kustomize 5.5.0) names a ConfigMap generated from the literal A=1 x-89g4tffbfk.
    resource = {"metadata": {"name": "x"}, "data": {"A": "1"}}
    assert configmap_hash(resource) == "89g4tffbfk"


def test_json_patch_operations() -> None:
    document = {"a": {"b/c": 1}, "items": [1, 2]}
    apply_json_patch_operation(document, {"op": "replace", "path": "/a/b~1c", "value": 2})
    apply_json_patch_operation(document, {"op": "add", "path": "/items/-", "value": 3})
    apply_json_patch_operation(document, {"op": "remove", "path": "/items/0"})
    apply_json_patch_operation(document, {"op": "add", "path": "/new", "value": {"x": 1}})
    assert document == {"a": {"b/c": 2}, "items": [2, 3], "new": {"x": 1}}


def test_json_patch_replace_of_missing_member_fails() -> None:
    with pytest.raises(KeyError):
        apply_json_patch_operation({}, {"op": "replace", "path": "/absent", "value": 1})


def test_unknown_fields_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("commonLabels:\n  a: b\n", encoding="utf-8")
    with pytest.raises(UnsupportedKustomization, match="commonLabels"):
        render(tmp_path)


def test_patch_without_match_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "patches:\n  - target: {kind: Ingress}\n    patch: '[]'\n", encoding="utf-8"
    )
    with pytest.raises(UnsupportedKustomization, match="matches no resource"):
        render(tmp_path)


def key(resource: dict[str, object]) -> tuple[str, ...]:
    metadata = resource["metadata"]
    assert isinstance(metadata, dict)
    return (
        str(resource["apiVersion"]),
        str(resource["kind"]),
        str(metadata.get("namespace", "")),
        str(metadata["name"]),
    )


@pytest.mark.parametrize("name", OVERLAYS)
def test_render_matches_kubectl(name: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the overlays are checked with the Python renderer")
    directory = DEPLOY / "kustomize" / "overlays" / name
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    expected = {key(doc): doc for doc in yaml.safe_load_all(result.stdout) if doc}
    actual = {key(doc): doc for doc in render(directory)}
    assert sorted(actual) == sorted(expected)
    for identity, resource in actual.items():
        assert resource == expected[identity], identity
