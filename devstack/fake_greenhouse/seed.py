"""Seeds for the fake: ``empty``, a small ``demo`` organization for ``make run``, and ``large``.

The demo has a Site Admin recruiter, an HR partner, three interviewers, two jobs with interview
plans and six candidates with applications. Five interviews are scheduled: on Zoom and Google
Meet (video links), on Microsoft Teams (the link in the location text), on an unknown provider,
and one on Zoom whose organizer and panel are all interviewers. A sixth is not yet scheduled.
Of the email templates, one candidate-facing template contains the interview-schedule
placeholder. All names and addresses are fictional.

The ``large`` organization, for the benchmarks, has a configurable number of candidates with
one application each, all last changed 30 days ago, and upcoming Zoom interviews for the first
20 of them (see ``seed_large``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devstack.fake_greenhouse.state import FakeState

SEEDS = ("empty", "demo", "large")
LARGE_CANDIDATES = 10_000
LARGE_UPCOMING_INTERVIEWS = 20


def apply_seed(state: FakeState, name: str, *, candidates: int = LARGE_CANDIDATES) -> None:
    """Fill ``state`` with the named seed; raise ValueError for an unknown name.

    ``candidates`` is the size of the ``large`` seed; the other seeds ignore it.
    """
    if name == "empty":
        return
    if name == "demo":
        seed_demo(state)
        return
    if name == "large":
        seed_large(state, candidates)
        return
    raise ValueError(f"unknown seed {name!r}; expected one of {', '.join(SEEDS)}")


def _at(days: float, hour: int = 15) -> str:
    """Return the ISO timestamp ``days`` from today at ``hour``:00 UTC."""
    base = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return _iso(base + timedelta(days=days))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seed_demo(state: FakeState) -> None:
    """Create the demo organization."""
    with state.lock:
        state.organization.update({"id": 4_000_777, "name": "Acme Robotics (demo)"})
        users = {
            key: state.insert(
                "users",
                {
                    "first_name": first,
                    "last_name": last,
                    "primary_email": f"{first.lower()}.{last.lower()}@acme-robotics.example",
                    "job_title": title,
                    "site_admin": admin,
                },
            )
            for key, first, last, title, admin in (
                ("recruiter", "Rita", "Recruiter", "Senior Recruiter", True),
                ("hr", "Hana", "Hr", "HR Business Partner", False),
                ("alice", "Alice", "Engineer", "Staff Engineer", False),
                ("bob", "Bob", "Builder", "Engineering Manager", False),
                ("carol", "Carol", "Designer", "Product Designer", False),
            )
        }
        sources = [
            state.insert("sources", {"name": name, "type": {"id": type_id, "name": type_name}})
            for name, type_id, type_name in (
                ("LinkedIn", 3, "Third-party boards"),
                ("Employee referral", 2, "Referral"),
                ("Company website", 6, "Company marketing"),
            )
        ]
        jobs = [
            state.insert(
                "jobs",
                {"name": name, "requisition_id": requisition, "opened_at": _at(-30)},
            )
            for name, requisition in (
                ("Robotics Engineer", "REQ-101"),
                ("Product Designer", "REQ-102"),
            )
        ]
        plans = {
            job["id"]: [
                state.insert(
                    "job_interviews",
                    {"job_id": job["id"], "name": name, "sort_order": order, "duration": minutes},
                )
                for order, (name, minutes) in enumerate(
                    (("Technical screen", 45), ("Onsite panel", 90))
                )
            ]
            for job in jobs
        }

        state.insert(
            "custom_fields",
            {
                "name": "Identity verification",
                "name_key": "identity_verification",
                "field_type": "candidate",
                "value_type": "short_text",
            },
        )

        people = (
            ("Dana", "Diaz", 0, 0),
            ("Eli", "Evans", 0, 1),
            ("Fay", "Fischer", 1, 2),
            ("Gus", "Garcia", 1, 0),
            ("Ines", "Ito", 0, 2),
            ("Jon", "Jansen", 1, 1),
        )
        applications = []
        for first, last, job_index, source_index in people:
            candidate = state.insert(
                "candidates",
                {
                    "first_name": first,
                    "last_name": last,
                    "email_addresses": [
                        {
                            "value": f"{first.lower()}.{last.lower()}@mail.example",
                            "type": "personal",
                        }
                    ],
                    "last_activity_at": _at(-2),
                },
            )
            applications.append(
                state.insert(
                    "applications",
                    {
                        "candidate_id": candidate["id"],
                        "job_id": jobs[job_index]["id"],
                        "source_id": sources[source_index]["id"],
                        "recruiter_id": users["recruiter"]["id"],
                        "stage_name": "Technical screen",
                        "last_activity_at": _at(-2),
                    },
                )
            )

        teams = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_demo%40thread.v2/0"
        schedule = (
            (
                0,
                1,
                {"video_conferencing_url": "https://acme.zoom.us/j/81234567890"},
                "recruiter",
                ["alice"],
            ),
            (
                1,
                1.5,
                {"video_conferencing_url": "https://meet.google.com/abc-defg-hij"},
                "alice",
                ["recruiter", "bob"],
            ),
            (2, 2, {"location": f"Microsoft Teams meeting, join: {teams}"}, "bob", ["hr"]),
            (
                3,
                2.5,
                {"video_conferencing_url": "https://meet.jit.si/AcmeDemoInterview"},
                "hr",
                ["carol"],
            ),
            (
                4,
                3,
                {"video_conferencing_url": "https://acme.zoom.us/j/89990001111"},
                "carol",
                ["alice", "bob"],
            ),
        )
        for index, days, where, organizer, panel in schedule:
            application = applications[index]
            slot = plans[application["job_id"]][0]
            interview = state.insert(
                "interviews",
                {
                    "application_id": application["id"],
                    "job_id": application["job_id"],
                    "job_interview_id": slot["id"],
                    "starts_at": _at(days),
                    "ends_at": _at(days, hour=16),
                    "organizer_id": users[organizer]["id"],
                    "scheduled_at": _at(-1),
                    "external_event_id": f"demo-event-{index + 1}",
                    **where,
                },
            )
            state.set_panel(interview["id"], [{"user_id": users[key]["id"]} for key in panel])
        state.insert(
            "interviews",
            {
                "application_id": applications[5]["id"],
                "job_id": applications[5]["job_id"],
                "job_interview_id": plans[applications[5]["job_id"]][0]["id"],
                "status": "to_be_scheduled",
            },
        )

        state.insert(
            "email_templates",
            {
                "name": "Interview confirmation",
                "email_type": "candidate_email",
                "subject": "Your interview with Acme Robotics",
                "body": "Hi {{CANDIDATE_FIRST_NAME}},\n\nHere is your schedule:\n"
                "{{INTERVIEW_SCHEDULE}}\n\nSee you soon!",
            },
        )
        state.insert(
            "email_templates",
            {
                "name": "Interviewer invitation",
                "email_type": "interviewer_invite",
                "subject": "Interview with {{CANDIDATE_NAME}}",
                "body": "{{INTERVIEW_SCHEDULE}}",
            },
        )
        state.insert(
            "email_templates",
            {
                "name": "Application received",
                "email_type": "candidate_auto_reply",
                "subject": "Thanks for applying",
                "body": "We received your application and will be in touch.",
            },
        )


def seed_large(state: FakeState, candidates: int) -> None:
    """Create an organization of ``candidates`` candidates for the benchmarks.

    Each candidate has one application. Every record was last changed 30 days ago, before the
    poller's first look-back, so at start-up only the look-ahead sweep publishes anything. It
    finds the upcoming Zoom interviews of the first 20 candidates, one per hour from the next
    hour on. Their organizer and panel are one interviewer, so no interview is protected until
    a benchmark makes a protected user take part.
    """
    if candidates < 1:
        raise ValueError(f"the large seed needs at least 1 candidate, got {candidates}")
    long_ago = _at(-30)
    with state.lock:
        state.organization.update({"id": 4_000_888, "name": "Globex Hiring (benchmark)"})
        users = {
            key: state.insert(
                "users",
                {
                    "first_name": first,
                    "last_name": last,
                    "primary_email": f"{first.lower()}.{last.lower()}@globex-hiring.example",
                    "site_admin": key == "recruiter",
                    "created_at": long_ago,
                },
            )
            for key, first, last in (
                ("recruiter", "Rosa", "Recruiter"),
                ("interviewer", "Ivan", "Interviewer"),
            )
        }
        job = state.insert("jobs", {"name": "Field Engineer", "created_at": long_ago})
        slot = state.insert(
            "job_interviews", {"job_id": job["id"], "name": "Video call", "created_at": long_ago}
        )
        applications = []
        for number in range(candidates):
            candidate = state.insert(
                "candidates",
                {
                    "first_name": "Candidate",
                    "last_name": str(number + 1),
                    "created_at": long_ago,
                    "last_activity_at": long_ago,
                },
            )
            applications.append(
                state.insert(
                    "applications",
                    {
                        "candidate_id": candidate["id"],
                        "job_id": job["id"],
                        "recruiter_id": users["recruiter"]["id"],
                        "created_at": long_ago,
                        "last_activity_at": long_ago,
                    },
                )
            )
        now = datetime.now(UTC).replace(microsecond=0)
        for number, application in enumerate(applications[:LARGE_UPCOMING_INTERVIEWS]):
            starts = now + timedelta(hours=number + 1)
            interview = state.insert(
                "interviews",
                {
                    "application_id": application["id"],
                    "job_id": job["id"],
                    "job_interview_id": slot["id"],
                    "starts_at": _iso(starts),
                    "ends_at": _iso(starts + timedelta(hours=1)),
                    "organizer_id": users["interviewer"]["id"],
                    "video_conferencing_url": f"https://globex.zoom.us/j/{9_100_000_000 + number}",
                    "created_at": long_ago,
                },
            )
            # Inserted directly rather than through set_panel, which would make the
            # interview's updated_at now.
            state.insert(
                "interviewers",
                {
                    "interview_id": interview["id"],
                    "user_id": users["interviewer"]["id"],
                    "email": users["interviewer"]["primary_email"],
                    "created_at": long_ago,
                },
            )
