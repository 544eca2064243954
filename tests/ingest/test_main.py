"""``greenguard ingest`` as a process: start-up failures are one clear line and an exit status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devstack.broker import free_port


def run_ingest(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "ingest", "--host", "127.0.0.1", "--port", "0"],
        env={**os.environ, "GREENHOUSE_WEBHOOK_SECRET": "secret-value-xyz", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unreachable_kafka_exits_69() -> None:
    result = run_ingest(
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}", KAFKA_PUBLISH_TIMEOUT_SECONDS="2"
    )
    assert result.returncode == 69
    assert "ingest_start_failed" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "secret-value-xyz" not in result.stdout + result.stderr


def test_invalid_setting_names_variable() -> None:
    result = run_ingest(KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CAFILE="/nonexistent/ca.pem")
    assert result.returncode == 78
    assert "KAFKA_SSL_CAFILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_secret_file_names_variable(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"\xff\xfe")
    result = run_ingest(GREENHOUSE_WEBHOOK_SECRET="", GREENHOUSE_WEBHOOK_SECRET_FILE=str(path))
    assert result.returncode == 78
    assert "GREENHOUSE_WEBHOOK_SECRET_FILE" in result.stderr
