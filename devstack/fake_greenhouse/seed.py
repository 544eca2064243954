"""Seeds for the fake: ``empty`` and a small ``demo`` organization for ``make run``.

The demo has a Site Admin recruiter, three interviewers, two jobs with interview plans and a
few candidates with applications. Three interviews are scheduled with panels: one has a video
link, one a meeting URL in its location text, one a room. A fourth is not yet scheduled. Of the
email templates, one candidate-facing template contains the interview-schedule placeholder. All names and addresses are fictional.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devstack.fake_greenhouse.state import FakeState

SEEDS = ("empty", "demo")


def apply_seed(state: FakeState, name: str) -> None:
    """Fill ``state`` with the named seed; raise ValueError for an unknown name."""
    if name == "empty":
        return
    if name == "demo":
        seed_demo(state)
        return
    raise ValueError(f"unknown seed {name!r}; expected one of {', '.join(SEEDS)}")


def _at(days: float, hour: int = 15) -> str:
    """Return the ISO timestamp ``days`` from today at ``hour``:00 UTC."""
    base = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    moment = base + timedelta(days=days)
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

        schedule = (
            (0, 1, {"video_conferencing_url": "https://video.example/j/1001"}, ["alice", "bob"]),
            (1, 1.5, {"location": "Join at https://meet.example/abc-defg-hij"}, ["alice"]),
            (2, 2, {"location": "Room 4B, 1 Demo Street"}, ["carol"]),
        )
        for index, days, where, panel in schedule:
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
                    "organizer_id": users["recruiter"]["id"],
                    "scheduled_at": _at(-1),
                    "external_event_id": f"demo-event-{index + 1}",
                    **where,
                },
            )
            state.set_panel(interview["id"], [{"user_id": users[key]["id"]} for key in panel])
        state.insert(
            "interviews",
            {
                "application_id": applications[3]["id"],
                "job_id": applications[3]["job_id"],
                "job_interview_id": plans[applications[3]["job_id"]][0]["id"],
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
