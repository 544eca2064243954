"""Compute requirements.lock: the runtime dependencies of pyproject.toml and all they require.

Regenerate the lock from the installed virtual environment with
``.venv/bin/python -m tests.deploy.lockfile > requirements.lock``.
"""

from __future__ import annotations

import importlib.metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
HEADER = """\
# Runtime dependencies of greenguard with every transitive dependency, pinned.
# The container image installs exactly these (deploy/Dockerfile).
# Regenerate with: .venv/bin/python -m tests.deploy.lockfile > requirements.lock
"""


def runtime_requirements() -> list[Requirement]:
    """Return the [project.dependencies] of pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project["dependencies"]]


def installed_closure(roots: list[Requirement]) -> dict[str, str]:
    """Return name to installed version for the roots and everything they require here.

    Markers are evaluated for this interpreter with no extras, as pip would on Linux CPython 3.11.
    """
    pinned: dict[str, str] = {}
    pending = list(roots)
    while pending:
        requirement = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in pinned:
            continue
        pinned[name] = importlib.metadata.version(requirement.name)
        pending.extend(Requirement(t) for t in importlib.metadata.requires(requirement.name) or [])
    return pinned


def read_lock(path: Path) -> dict[str, str]:
    """Return name to version of the ``name==version`` lines of a lock file."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, separator, version = line.partition("==")
            assert separator, f"{path.name}: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version.strip()
    return pins


def main() -> int:
    sys.stdout.write(HEADER)
    for name, version in sorted(installed_closure(runtime_requirements()).items()):
        sys.stdout.write(f"{name}=={version}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
