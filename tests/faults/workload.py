"""The fault suite's workload: Greenhouse records to seed, webhook deliveries and alerts.

Everything here is built from the suite's settings and returned as plain data, so the test can
compare what it sent with what landed. The fake Greenhouse is seeded through its admin API.
"""

from __future__ import annotations

import itertools
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from shared.alerts import SCHEMA_VERSION
from tests.faults.sender import Delivery

CANDIDATE_TOPIC = "greenhouse.candidate-events"
ORG_TOPIC = "greenhouse.org-events"

# Candidate events cost the enricher four Harvest reads each; organisation events cost nothing
# beyond ingest. The mix sets how hard the enricher works during the run.
CANDIDATE_ACTIONS = ("candidate_stage_change", "application_updated", "update_candidate")
ORG_ACTIONS = ("job_updated", "job_post_updated", "job_created")

# Kinds that set no status, sent to any candidate, and kinds that set one, sent only to
# candidates without a protected interview (see ``Workload.status_candidates``).
PLAIN_KINDS = ("unverified_joiner", "link_forwarded", "deepfake_suspected")
STATUS_KINDS = {
    "verified": "Verified",
    "failed": "Failed",
    "mismatch": "Mismatch",
    "unable_to_complete": "Unable to Complete",
}


def env_int(name: str, default: int) -> int:
    """Read a positive integer setting of the suite from the environment."""
    value = int(os.environ.get(name, default))
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def env_float(name: str, default: float) -> float:
    """Read a non-negative number setting of the suite from the environment."""
    value = float(os.environ.get(name, default))
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


@dataclass(frozen=True)
class SuiteSettings:
    """Sizes of one run; each can be changed with the ``FAULTS_*`` variable of its name."""

    deliveries: int
    delivery_rate: float
    candidate_share: float
    candidates: int
    protected_interviews: int
    unprotected_interviews: int
    alerts: int
    alert_burst: int

    @classmethod
    def from_env(cls) -> SuiteSettings:
        settings = cls(
            deliveries=env_int("FAULTS_DELIVERIES", 10_000),
            delivery_rate=env_float("FAULTS_DELIVERY_RATE", 60.0),
            candidate_share=env_float("FAULTS_CANDIDATE_SHARE", 0.2),
            candidates=env_int("FAULTS_CANDIDATES", 160),
            protected_interviews=env_int("FAULTS_PROTECTED_INTERVIEWS", 80),
            unprotected_interviews=env_int("FAULTS_UNPROTECTED_INTERVIEWS", 20),
            alerts=env_int("FAULTS_ALERTS", 400),
            alert_burst=env_int("FAULTS_ALERT_BURST", 120),
        )
        if settings.protected_interviews + settings.unprotected_interviews > settings.candidates:
            raise ValueError("FAULTS_CANDIDATES must cover every interview: one per candidate")
        if not 0 <= settings.candidate_share <= 1:
            raise ValueError("FAULTS_CANDIDATE_SHARE must be between 0 and 1")
        return settings


@dataclass
class Seeded:
    """Ids of the records seeded in the fake."""

    protected_emails: list[str]
    job_id: int
    candidate_ids: list[int]
    application_ids: dict[int, int]  # candidate id -> application id
    protected_interviews: dict[int, int]  # interview id -> candidate id
    unprotected_interviews: dict[int, int]


def _at(hours: float) -> str:
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)
    return moment.isoformat().replace("+00:00", "Z")


def _create(admin: httpx.Client, resource: str, body: dict[str, Any]) -> dict[str, Any]:
    response = admin.post(f"/admin/{resource}", json=body)
    response.raise_for_status()
    record: dict[str, Any] = response.json()
    return record


def seed_people(admin: httpx.Client, settings: SuiteSettings) -> Seeded:
    """Create interviewers, a job and the candidates with one application each."""
    protected = [
        _create(
            admin,
            "users",
            {
                "first_name": f"Hanna{index}",
                "last_name": "Recruiter",
                "primary_email": f"hanna{index}.recruiter@faults.example",
            },
        )
        for index in range(3)
    ]
    job = _create(admin, "jobs", {"name": "Fault-suite engineer", "opened_at": _at(-240)})
    candidate_ids: list[int] = []
    applications: dict[int, int] = {}
    for index in range(settings.candidates):
        candidate = _create(
            admin,
            "candidates",
            {
                "first_name": f"Cand{index}",
                "last_name": "Idate",
                "email_addresses": [{"value": f"cand{index}@mail.example", "type": "personal"}],
            },
        )
        application = _create(
            admin,
            "applications",
            {"candidate_id": candidate["id"], "job_id": job["id"], "stage_name": "Screen"},
        )
        candidate_ids.append(candidate["id"])
        applications[candidate["id"]] = application["id"]
    return Seeded(
        protected_emails=[user["primary_email"] for user in protected],
        job_id=job["id"],
        candidate_ids=candidate_ids,
        application_ids=applications,
        protected_interviews={},
        unprotected_interviews={},
    )


def seed_interviews(admin: httpx.Client, settings: SuiteSettings, seeded: Seeded) -> None:
    """Schedule one Zoom interview per candidate: first the protected, then the others.

    A protected interview has a protected user on its panel; an unprotected one has only an
    interviewer who is not protected.
    """
    plain = _create(
        admin,
        "users",
        {"first_name": "Otto", "last_name": "Other", "primary_email": "otto@faults.example"},
    )
    count = settings.protected_interviews + settings.unprotected_interviews
    for index, candidate_id in enumerate(seeded.candidate_ids[:count]):
        is_protected = index < settings.protected_interviews
        email = seeded.protected_emails[index % 3] if is_protected else plain["primary_email"]
        interview = _create(
            admin,
            "interviews",
            {
                "application_id": seeded.application_ids[candidate_id],
                "job_id": seeded.job_id,
                "starts_at": _at(24 + index),
                "ends_at": _at(25 + index),
                "video_conferencing_url": f"https://zoom.us/j/{9_100_000 + index}",
                "external_event_id": f"faults-{index}",
                "interviewers": [{"email": email}],
            },
        )
        target = seeded.protected_interviews if is_protected else seeded.unprotected_interviews
        target[interview["id"]] = candidate_id


def build_deliveries(settings: SuiteSettings, seeded: Seeded) -> list[Delivery]:
    """Build the webhook deliveries, candidate events interleaved with organisation events."""
    every = round(1 / settings.candidate_share) if settings.candidate_share else 0
    candidate_cycle = itertools.cycle(seeded.candidate_ids)
    deliveries = []
    for index in range(settings.deliveries):
        event_id = f"faults-{index}-{uuid.uuid4().hex[:8]}"
        if every and index % every == 0:
            action = CANDIDATE_ACTIONS[(index // every) % len(CANDIDATE_ACTIONS)]
            candidate_id = next(candidate_cycle)
            application = {
                "id": seeded.application_ids[candidate_id],
                "candidate": {"id": candidate_id},
            }
            payload: dict[str, Any] = (
                {"candidate": {"id": candidate_id}}
                if action == "update_candidate"
                else {"application": application}
            )
            deliveries.append(Delivery(event_id, action, payload, CANDIDATE_TOPIC))
        else:
            action = ORG_ACTIONS[index % len(ORG_ACTIONS)]
            if action == "job_post_updated":
                payload = {"job_post": {"id": 40_000 + index % 50, "job_id": seeded.job_id}}
            else:
                payload = {"job": {"id": seeded.job_id, "name": "Fault-suite engineer"}}
            deliveries.append(Delivery(event_id, action, payload, ORG_TOPIC))
    return deliveries


@dataclass
class AlertPlan:
    """The alert records to publish, in order, and what their effects should be."""

    # (key, value) in publishing order; duplicates of valid alerts included.
    records: list[tuple[str, bytes]] = field(default_factory=list)
    valid_ids: set[str] = field(default_factory=set)
    poisoned: list[bytes] = field(default_factory=list)
    # The status each candidate should end with, from the last status alert sent to it.
    final_status: dict[int, str] = field(default_factory=dict)
    duplicates: int = 0


def _alert(candidate_id: int, application_id: int, kind: str, number: int) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "id": f"faults-alert-{number}-{uuid.uuid4().hex[:8]}",
        "candidate_id": candidate_id,
        "application_id": application_id,
        "kind": kind,
        "severity": "warning",
        "summary": f"Fault-suite alert {number}.",
        "occurred_at": _at(0),
    }


def poisoned_alerts() -> list[bytes]:
    """Return records the notifier must dead-letter: each breaks the alert schema differently."""
    marker = uuid.uuid4().hex[:8]
    valid = _alert(1, 1, "verified", 0)
    return [
        f"not json {marker}".encode(),
        orjson.dumps({**valid, "id": f"poison-version-{marker}", "schema_version": 2}),
        orjson.dumps({**valid, "id": f"poison-kind-{marker}", "kind": "teleported"}),
        orjson.dumps({**valid, "id": f"poison-extra-{marker}", "colour": "red"}),
        orjson.dumps({**valid, "id": f"poison-candidate-{marker}", "candidate_id": -4}),
    ]


def plan_alerts(
    count: int, seeded: Seeded, *, start: int = 0, with_status: bool = True
) -> AlertPlan:
    """Plan ``count`` alerts spread over the candidates; every tenth one is sent twice.

    Status kinds go only to candidates without a protected interview. The enricher writes
    ``Pending`` to protected candidates by read-compare-write, so a concurrent status write by the
    notifier could be overwritten, and this suite checks final statuses exactly. A plan published
    alongside another one has no status kinds, so that the last status of a candidate is known.
    """
    protected = set(seeded.protected_interviews.values())
    plan = AlertPlan()
    for number in range(start, start + count):
        candidate_id = seeded.candidate_ids[number % len(seeded.candidate_ids)]
        if candidate_id in protected or number % 2 or not with_status:
            kind = PLAIN_KINDS[number % len(PLAIN_KINDS)]
        else:
            kind = list(STATUS_KINDS)[(number // 2) % len(STATUS_KINDS)]
        document = _alert(candidate_id, seeded.application_ids[candidate_id], kind, number)
        value = orjson.dumps(document)
        plan.records.append((str(candidate_id), value))
        plan.valid_ids.add(document["id"])
        if kind in STATUS_KINDS:
            plan.final_status[candidate_id] = STATUS_KINDS[kind]
        if number % 10 == 0:
            plan.records.append((str(candidate_id), value))
            plan.duplicates += 1
    return plan


def merge_plans(*plans: AlertPlan) -> AlertPlan:
    """Combine plans published one after the other."""
    merged = AlertPlan()
    for plan in plans:
        merged.records += plan.records
        merged.valid_ids |= plan.valid_ids
        merged.poisoned += plan.poisoned
        merged.final_status.update(plan.final_status)
        merged.duplicates += plan.duplicates
    return merged
