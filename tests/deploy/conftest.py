"""Rendered overlays shared by the deployment tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.kustomize import Resource, render

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = sorted(
    path.name for path in (DEPLOY / "kustomize" / "overlays").iterdir() if path.is_dir()
)
SERVICES = ("ingest", "poller", "enricher", "notifier")


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Resource]]:
    """Every overlay rendered once: overlay name to its resources."""
    return {name: render(DEPLOY / "kustomize" / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, rendered: dict[str, list[Resource]]) -> list[Resource]:
    """The resources of one overlay; tests using it run once per overlay."""
    resources: list[Resource] = rendered[request.param]
    return resources


def of_kind(resources: list[Resource], kind: str) -> list[Resource]:
    return [resource for resource in resources if resource["kind"] == kind]


def named(resources: list[Resource], kind: str, name: str) -> Resource:
    matches = [item for item in of_kind(resources, kind) if item["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def workloads(resources: list[Resource]) -> Iterator[Resource]:
    yield from (r for r in resources if r["kind"] in ("Deployment", "StatefulSet"))


def service_of(workload: Resource) -> str:
    """Return the greenguard subcommand a workload runs (its container's first argument)."""
    args: list[str] = workload["spec"]["template"]["spec"]["containers"][0]["args"]
    return args[0]


def configmap_data(resources: list[Resource], container: dict[str, Any]) -> dict[str, str]:
    """Return the variables a container gets from its envFrom ConfigMaps."""
    data: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        data.update(named(resources, "ConfigMap", name)["data"])
    return data


def container_env(resources: list[Resource], container: dict[str, Any]) -> dict[str, str]:
    """Return every environment variable the container gets, with literal values."""
    env = configmap_data(resources, container)
    for variable in container.get("env", []):
        assert "value" in variable, f"{variable['name']} should be a literal or come from a file"
        env[variable["name"]] = variable["value"]
    return env
