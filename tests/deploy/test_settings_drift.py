"""No drift between the manifests and the settings classes.

Every environment variable a Deployment sets must be one its process's settings class reads
(a field, or ``<FIELD>_FILE`` for a secret field), every required field must be set, and the
settings must load from exactly that environment, with the mounted files in place.

The settings classes are found at run time: ``services.<name>.settings`` and the
BaseServiceSettings subclass defined there, so a field added to a class is checked at once.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from pydantic import SecretStr

from shared.settings import BaseServiceSettings
from tests.deploy.conftest import OVERLAYS, SERVICES, container_env, named, service_of, workloads

# Placeholder contents of the mounted files, long enough for every validator.
FILE_CONTENTS = {
    "GREENGUARD_HR_TOKENS_FILE": "hr-token-0123456789abcdef0123456789 hr\n",
}
DEFAULT_FILE_CONTENT = "placeholder-secret-0123456789abcdef0123456789abcdef"


def settings_class(service: str) -> type[BaseServiceSettings]:
    """Return the settings class of ``service``, or skip when its module is not written yet."""
    module_name = f"services.{service}.settings"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            pytest.skip(f"{module_name} does not exist yet")
        raise
    classes = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseServiceSettings) and cls.__module__ == module_name
    ]
    assert len(classes) == 1, f"{module_name} should define one settings class, found {classes}"
    return classes[0]


def is_secret(cls: type[BaseServiceSettings], field: str) -> bool:
    return cls.model_fields[field].annotation in (SecretStr, SecretStr | None)


def field_of(cls: type[BaseServiceSettings], variable: str) -> str | None:
    """Return the field a variable sets, or None when the class does not read it."""
    name = variable.lower()
    if name in cls.model_fields:
        return name
    base = name.removesuffix("_file")
    if name.endswith("_file") and base in cls.model_fields and is_secret(cls, base):
        return base
    return None


def cases() -> list[tuple[str, str]]:
    return [(overlay, service) for overlay in OVERLAYS for service in SERVICES]


def container_for(resources: list[Any], service: str) -> tuple[dict[str, Any], dict[str, Any]]:
    [workload] = [w for w in workloads(resources) if service_of(w) == service]
    pod = workload["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


@pytest.mark.parametrize(("overlay_name", "service"), cases())
def test_manifest_sets_only_read_variables(
    rendered: dict[str, list[Any]], overlay_name: str, service: str
) -> None:
    cls = settings_class(service)
    resources = rendered[overlay_name]
    _, container = container_for(resources, service)
    env = container_env(resources, container)

    unread = sorted(variable for variable in env if field_of(cls, variable) is None)
    assert not unread, f"{cls.__name__} reads none of {unread}"

    set_fields = {field_of(cls, variable) for variable in env}
    required = sorted(name.upper() for name, info in cls.model_fields.items() if info.is_required())
    missing = [name for name in required if name.lower() not in set_fields]
    assert not missing, f"{cls.__name__} requires {missing}, which the manifests do not set"

    literal_secrets = sorted(
        variable
        for variable in env
        if variable.lower() in cls.model_fields and is_secret(cls, variable.lower())
    )
    assert not literal_secrets, f"secrets {literal_secrets} must come from files (<NAME>_FILE)"


def mounted_files(pod: dict[str, Any], container: dict[str, Any]) -> set[PurePosixPath]:
    """Return the paths of the files that the container's secret volumes provide."""
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    files = set()
    for mount in container.get("volumeMounts", []):
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        for item in secret["items"]:
            files.add(PurePosixPath(mount["mountPath"]) / item["path"])
    return files


@pytest.mark.parametrize(("overlay_name", "service"), cases())
def test_settings_load_from_manifest(
    rendered: dict[str, list[Any]],
    overlay_name: str,
    service: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cls = settings_class(service)
    resources = rendered[overlay_name]
    pod, container = container_for(resources, service)
    env = container_env(resources, container)
    files = mounted_files(pod, container)

    for name in list(cls.model_fields) + [f"{n}_file" for n in cls.model_fields]:
        monkeypatch.delenv(name.upper(), raising=False)
    for variable, value in env.items():
        if value.startswith("/etc/greenguard/"):
            assert PurePosixPath(value) in files, f"{variable}={value} is not a mounted file"
            local = tmp_path / value.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(FILE_CONTENTS.get(variable, DEFAULT_FILE_CONTENT), encoding="utf-8")
            value = str(local)
        monkeypatch.setenv(variable, value)

    settings = cls.load()

    if hasattr(settings, "require_credentials"):
        settings.require_credentials()
    if hasattr(settings, "webhook_secrets"):
        assert settings.webhook_secrets()
    port_field = "ingest_port" if service == "ingest" else "health_port"
    probe_port = container["readinessProbe"]["httpGet"]["port"]
    [named_port] = [p for p in container["ports"] if p["name"] == probe_port]
    assert named_port["containerPort"] == getattr(settings, port_field)
    assert pod["terminationGracePeriodSeconds"] > settings.shutdown_grace_seconds
    if hasattr(settings, "group_id") and service != "poller":
        scaled = named(resources, "ScaledObject", f"greenguard-{service}")
        assert scaled["spec"]["triggers"][0]["metadata"]["consumerGroup"] == settings.group_id
