"""GET /api/interviews: role-guarded list of upcoming protected interviews."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from shared.events import isoformat, utc_now
from shared.kafka import Publisher, ensure_topics
from shared.topics import ALL_TOPICS, CANDIDATE_CONTEXT, PROTECTED_MEETINGS
from tests.asgi import serve
from tests.helpers import wait_until

pytestmark = pytest.mark.integration


def protected(interview_id: int, candidate_id: int, starts_in: timedelta, **extra: Any) -> bytes:
    start = utc_now() + starts_in
    return orjson.dumps(
        {
            "schema_version": 1,
            "type": "interview.protected",
            "interview_id": interview_id,
            "candidate_id": candidate_id,
            "application_id": 900,
            "starts_at": isoformat(start),
            "ends_at": isoformat(start + timedelta(hours=1)),
            "provider": "zoom",
            "original_url": "https://zoom.us/j/1",
            "secure_url": f"https://links.example.invalid/l/{interview_id}",
            "link_expires_at": isoformat(start + timedelta(hours=2)),
            "protected_participants": ["recruiter@example.invalid"],
            **extra,
        }
    )


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "hr-tokens"
    path.write_text("# token role\nhr-token-1 hr\nviewer-token viewer\n", encoding="utf-8")
    return path


async def test_lists_upcoming_protected_interviews(
    kafka_options: dict[str, Any], tokens_file: Path
) -> None:
    settings = IngestSettings.load(
        **kafka_options, greenhouse_webhook_secret="s", greenguard_hr_tokens_file=tokens_file
    )
    await ensure_topics(settings, ALL_TOPICS)
    publisher = Publisher(settings)
    await publisher.start()
    await publisher.publish(PROTECTED_MEETINGS, "1", protected(1, 11, timedelta(hours=3)))
    await publisher.publish(PROTECTED_MEETINGS, "2", protected(2, 12, timedelta(hours=1)))
    await publisher.publish(PROTECTED_MEETINGS, "3", protected(3, 13, timedelta(hours=-5)))
    await publisher.publish(PROTECTED_MEETINGS, "4", protected(4, 14, timedelta(hours=2)))
    unprotected = {"schema_version": 1, "type": "interview.unprotected", "interview_id": 4}
    await publisher.publish(PROTECTED_MEETINGS, "4", orjson.dumps(unprotected))
    opened = {"type": "interview.link_opened", "interview_id": 2}
    await publisher.publish(PROTECTED_MEETINGS, "2", orjson.dumps(opened))
    context = {
        "identity": {"first_name": "Ada", "last_name": "Lovelace"},
        "custom_fields": {"identity_verification_status": "Pending"},
    }
    await publisher.publish(CANDIDATE_CONTEXT, "11", orjson.dumps(context))

    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        hr = {"Authorization": "Bearer hr-token-1"}

        async def two_listed() -> bool:
            response = await client.get("/api/interviews", headers=hr)
            return len(response.json()["interviews"]) == 2

        await wait_until(two_listed, message="two upcoming protected interviews")
        rows = (await client.get("/api/interviews", headers=hr)).json()["interviews"]

        assert [row["interview_id"] for row in rows] == [2, 1]
        assert rows[0]["link_status"] == "opened"
        assert rows[1]["link_status"] == "active"
        assert rows[1]["candidate_name"] == "Ada Lovelace"
        assert rows[1]["verification_status"] == "Pending"
        assert rows[0]["verification_status"] == "Not Started"
        assert rows[1]["protected_participants"] == ["recruiter@example.invalid"]

        viewer = await client.get(
            "/api/interviews", headers={"Authorization": "Bearer viewer-token"}
        )
        assert viewer.status_code == 403
        unknown = await client.get("/api/interviews", headers={"Authorization": "Bearer nope"})
        assert unknown.status_code == 401
        missing = await client.get("/api/interviews")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
    await publisher.stop()


async def test_token_file_change_takes_effect(
    kafka_options: dict[str, Any], tokens_file: Path
) -> None:
    settings = IngestSettings.load(
        **kafka_options, greenhouse_webhook_secret="s", greenguard_hr_tokens_file=tokens_file
    )
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        headers = {"Authorization": "Bearer hr-token-2"}
        assert (await client.get("/api/interviews", headers=headers)).status_code == 401
        tokens_file.write_text("hr-token-2 hr\n", encoding="utf-8")
        import os

        stat = tokens_file.stat()
        os.utime(tokens_file, (stat.st_atime, stat.st_mtime + 5))
        assert (await client.get("/api/interviews", headers=headers)).status_code == 200
        old = {"Authorization": "Bearer hr-token-1"}
        assert (await client.get("/api/interviews", headers=old)).status_code == 401


def test_missing_token_file_fails_start(kafka_options: dict[str, Any], tmp_path: Path) -> None:
    from shared.errors import ConfigurationError

    settings = IngestSettings.load(
        **kafka_options,
        greenhouse_webhook_secret="s",
        greenguard_hr_tokens_file=tmp_path / "absent",
    )
    with pytest.raises(ConfigurationError, match="GREENGUARD_HR_TOKENS_FILE"):
        create_app(settings)


async def test_broken_token_file_keeps_last_tokens(
    kafka_options: dict[str, Any], tokens_file: Path
) -> None:
    import os

    settings = IngestSettings.load(
        **kafka_options, greenhouse_webhook_secret="s", greenguard_hr_tokens_file=tokens_file
    )
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        headers = {"Authorization": "Bearer hr-token-1"}
        first = await client.get("/api/interviews", headers=headers)
        assert first.status_code == 200
        assert first.headers["cache-control"] == "no-store"

        tokens_file.write_bytes(b"\xff\xfe not text")
        stat = tokens_file.stat()
        os.utime(tokens_file, (stat.st_atime, stat.st_mtime + 5))
        assert (await client.get("/api/interviews", headers=headers)).status_code == 200

        tokens_file.unlink()
        assert (await client.get("/api/interviews", headers=headers)).status_code == 200
        assert (
            await client.get("/api/interviews", headers={"Authorization": "Bearer x"})
        ).status_code == 401
