"""``greenguard connect`` and the connection check, against the fake over real HTTP."""

from __future__ import annotations

import argparse
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog

from devstack.fake_greenhouse import ALL_SCOPES, FakeConfig, FakeGreenhouse
from devstack.fake_greenhouse.faults import Fault
from devstack.fake_greenhouse.seed import seed_demo
from shared import connect_command
from shared.connect import (
    REQUIRED_SCOPES,
    ConnectionMonitor,
    ConnectionReport,
    audit_email_templates,
    check_connection,
    missing_scopes,
)
from shared.greenhouse import HarvestClient


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGreenhouse]:
    with FakeGreenhouse(scopes=REQUIRED_SCOPES) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeGreenhouse) -> FakeGreenhouse:
    state = server.state
    with state.lock:
        state.reset()
        state.config = FakeConfig()
        state.clients.clear()
        state.add_client(server.client_id, server.client_secret, set(REQUIRED_SCOPES))
        seed_demo(state)
    return server


@pytest.fixture
async def client(fake: FakeGreenhouse) -> AsyncIterator[HarvestClient]:
    async with HarvestClient(fake.settings(), max_attempts=2, backoff_seconds=0.01) as harvest:
        yield harvest


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_full_scopes_connected(client: HarvestClient) -> None:
    report = await check_connection(client)

    assert report.status == "Connected"
    assert report.exit_code == 0
    assert report.organization_name == "Acme Robotics (demo)"
    assert report.reason == "Connected to Acme Robotics (demo)"
    assert report.missing_scopes == ()


@pytest.mark.parametrize("scope", REQUIRED_SCOPES)
async def test_each_missing_scope_fails(
    fake: FakeGreenhouse, client: HarvestClient, scope: str
) -> None:
    fake.state.clients[fake.client_id].scopes.discard(scope)

    report = await check_connection(client)

    assert report.status == "Failed"
    assert report.exit_code == 2
    assert report.missing_scopes == (scope,)
    assert f"  {scope}" in report.lines()


async def test_extra_scopes_do_not_matter(fake: FakeGreenhouse, client: HarvestClient) -> None:
    fake.state.clients[fake.client_id].scopes = set(ALL_SCOPES)

    assert (await check_connection(client)).status == "Connected"


async def test_wrong_secret_fails(fake: FakeGreenhouse) -> None:
    settings = fake.settings(greenhouse_client_secret="wrong")
    async with HarvestClient(settings, backoff_seconds=0.01) as harvest:
        report = await check_connection(harvest)

    assert report.status == "Failed"
    assert report.exit_code == 1
    assert "invalid client id or secret" in report.reason
    assert "wrong" not in report.reason


async def test_unreachable_token_url_fails(fake: FakeGreenhouse) -> None:
    settings = fake.settings(greenhouse_token_url=f"http://127.0.0.1:{_closed_port()}/token")
    async with HarvestClient(settings, max_attempts=2, backoff_seconds=0.01) as harvest:
        report = await check_connection(harvest)

    assert report.status == "Failed"
    assert report.exit_code == 1
    assert "token endpoint" in report.reason
    assert "unreachable" in report.reason


async def test_token_scope_used_without_introspection(
    fake: FakeGreenhouse, client: HarvestClient
) -> None:
    fake.state.config.update({"introspection_enabled": False, "token_response_scope": True})

    report = await check_connection(client)

    assert report.status == "Connected"
    assert report.reason == "Connected to (organization name not reported)"


async def test_no_way_to_learn_scopes_fails(fake: FakeGreenhouse, client: HarvestClient) -> None:
    fake.state.config.introspection_enabled = False

    report = await check_connection(client)

    assert report.status == "Failed"
    assert "could not learn the granted scopes" in report.reason


async def test_failed_template_audit_degrades(fake: FakeGreenhouse, client: HarvestClient) -> None:
    fake.state.faults.add(Fault(path_prefix="/v3/email_templates", status=503, count=5))

    report = await check_connection(client)

    assert report.status == "Degraded"
    assert report.exit_code == 0
    assert "email-template audit failed" in report.reason


async def test_template_audit_flags_candidate_templates(client: HarvestClient) -> None:
    report = await check_connection(client)

    assert [finding.name for finding in report.templates] == ["Interview confirmation"]
    assert "remove the placeholder" in report.warnings[0]
    assert any(
        line.startswith("Warning: email template 'Interview confirmation'")
        for line in report.lines()
    )


@pytest.mark.parametrize(
    "text",
    [
        "{{INTERVIEW_SCHEDULE}}",
        "{{interview schedule}}",
        "{{ Interview_Schedule }}",
        "{{interviewschedule}}",
        "See:\n{{  INTERVIEW  SCHEDULE }}\nThanks",
    ],
)
def test_placeholder_spellings_matched(text: str) -> None:
    findings = audit_email_templates(
        [{"id": 1, "name": "T", "email_type": "candidate_email", "body": text}]
    )

    assert [finding.fields for finding in findings] == [("body",)]


@pytest.mark.parametrize(
    "text", ["{{INTERVIEW_DATE}}", "{INTERVIEW_SCHEDULE}", "interview schedule"]
)
def test_other_placeholders_ignored(text: str) -> None:
    assert audit_email_templates([{"id": 1, "name": "T", "subject": text}]) == ()


def test_audit_checks_subject_and_html_body() -> None:
    template = {
        "id": 7,
        "name": "Both",
        "email_type": "candidate_email",
        "subject": "{{interview_schedule}}",
        "html_body": "<p>{{INTERVIEW_SCHEDULE}}</p>",
    }

    [finding] = audit_email_templates([template])

    assert finding.fields == ("subject", "html_body")


def test_audit_skips_interviewer_templates() -> None:
    template = {
        "id": 1,
        "name": "Invite",
        "email_type": "interviewer_invite",
        "body": "{{INTERVIEW_SCHEDULE}}",
    }

    assert audit_email_templates([template]) == ()


def test_missing_scopes_in_required_order() -> None:
    granted = set(REQUIRED_SCOPES) - {"harvest:users:list", "harvest:applications:list"}

    assert missing_scopes(granted) == ("harvest:applications:list", "harvest:users:list")
    assert len(REQUIRED_SCOPES) == 15


def test_fake_serves_every_required_scope() -> None:
    assert set(REQUIRED_SCOPES) <= ALL_SCOPES


async def test_report_round_trips_through_dict(client: HarvestClient) -> None:
    report = await check_connection(client)

    rebuilt = ConnectionReport.from_dict(json.loads(json.dumps(report.to_dict())))

    assert rebuilt.to_dict() == report.to_dict()


async def test_monitor_keeps_latest_report(fake: FakeGreenhouse, client: HarvestClient) -> None:
    monitor = ConnectionMonitor(client, interval_seconds=0)
    await monitor.run()
    assert monitor.ready

    fake.state.clients[fake.client_id].scopes.discard("harvest:notes:create")
    await monitor.check_once()

    assert monitor.latest is not None
    assert monitor.latest.status == "Failed"
    assert not monitor.ready


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The command configures logging for its process; undo that for the tests that follow."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


def _environment(monkeypatch: pytest.MonkeyPatch, fake: FakeGreenhouse, **overrides: str) -> None:
    values = {
        "GREENHOUSE_CLIENT_ID": fake.client_id,
        "GREENHOUSE_CLIENT_SECRET": fake.client_secret,
        "GREENHOUSE_TOKEN_URL": fake.token_url,
        "GREENHOUSE_INTROSPECT_URL": fake.introspect_url,
        "GREENHOUSE_API_URL": fake.api_url,
        **overrides,
    }
    for name, value in values.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)


def _run_command(as_json: bool) -> int:
    return connect_command.main(argparse.Namespace(json=as_json))


def test_command_prints_connected(
    fake: FakeGreenhouse, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _environment(monkeypatch, fake)

    status = _run_command(as_json=False)

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[0] == "Connected to Acme Robotics (demo)"
    assert lines[1].startswith("Warning: ")


def test_command_json_output(
    fake: FakeGreenhouse, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _environment(monkeypatch, fake)
    fake.state.clients[fake.client_id].scopes.discard("harvest:jobs:list")

    status = _run_command(as_json=True)

    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert status == 2
    assert document["status"] == "Failed"
    assert document["missing_scopes"] == ["harvest:jobs:list"]
    assert document["organization"]["name"] == "Acme Robotics (demo)"


def test_command_wrong_secret(
    fake: FakeGreenhouse, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _environment(monkeypatch, fake, GREENHOUSE_CLIENT_SECRET="wrong")

    status = _run_command(as_json=False)

    out = capsys.readouterr().out
    assert status == 1
    assert out.startswith("Failed: invalid client id or secret")


def test_command_missing_client_id(
    fake: FakeGreenhouse, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _environment(monkeypatch, fake, GREENHOUSE_CLIENT_ID="")

    status = _run_command(as_json=False)

    out = capsys.readouterr().out
    assert status == 1
    assert out.startswith("Failed: missing GREENHOUSE_CLIENT_ID")
    assert fake.state.token_requests == 0


def test_command_silent_token_endpoint_times_out(
    fake: FakeGreenhouse, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket
    import time

    # A listener that never accepts: the connection opens, no response ever comes.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    _environment(
        monkeypatch,
        fake,
        GREENHOUSE_TOKEN_URL=f"http://127.0.0.1:{port}/token",
        GREENHOUSE_MAX_ATTEMPTS="1",
    )
    started = time.monotonic()
    try:
        status = _run_command(as_json=False)
    finally:
        silent.close()

    assert status == 1
    assert capsys.readouterr().out.startswith("Failed:")
    assert time.monotonic() - started < 15
