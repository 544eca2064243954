"""Record shapes of the fake: the fields and defaults of each Harvest V3 resource.

Field names follow the v3 list endpoints. Keys starting with ``_`` are the fake's own
bookkeeping and never leave the server.
"""

from __future__ import annotations

import re
from typing import Any

RESOURCES = (
    "applications",
    "candidates",
    "custom_field_options",
    "custom_fields",
    "email_templates",
    "interviewers",
    "interviews",
    "job_interviews",
    "jobs",
    "notes",
    "sources",
    "users",
)

# Ids start in different ranges so that mixing up two kinds of id in a test fails loudly.
ID_BASES = {
    "applications": 900_000_000,
    "candidates": 800_000_000,
    "custom_field_options": 470_000_000,
    "custom_fields": 460_000_000,
    "email_templates": 440_000_000,
    "interviewers": 530_000_000,
    "interviews": 510_000_000,
    "job_interviews": 520_000_000,
    "jobs": 300_000_000,
    "notes": 480_000_000,
    "sources": 31_000,
    "users": 700_000_000,
}

DEFAULTS: dict[str, dict[str, Any]] = {
    "applications": {
        "candidate_id": None,
        "job_id": None,
        "job_post_id": None,
        "job_interview_stage_id": None,
        "stage_id": None,
        "stage_name": None,
        "status": "in_process",
        "prospect": False,
        "prospective_job_ids": [],
        "recruiter_id": None,
        "coordinator_id": None,
        "referrer_id": None,
        "source_id": None,
        "rejected_at": None,
        "rejection_reason_id": None,
        "last_activity_at": None,
        "location_address": None,
        "needs_decision": False,
        "answers": [],
        "agency_note_id": None,
        "custom_fields": {},
    },
    "candidates": {
        "first_name": "",
        "last_name": "",
        "preferred_name": None,
        "company": None,
        "title": None,
        "time_zone": None,
        "private": False,
        "can_email": True,
        "tags": [],
        "linked_user_ids": [],
        "email_addresses": [],
        "phone_numbers": [],
        "addresses": [],
        "website_addresses": [],
        "social_media_addresses": [],
        "last_activity_at": None,
    },
    "custom_field_options": {
        "custom_field_id": None,
        "name": "",
        "external_id": None,
        "sort_order": 0,
        "active": True,
    },
    "custom_fields": {
        "name": "",
        "name_key": "",
        "field_type": "candidate",
        "value_type": "short_text",
        "active": True,
        "private": False,
        "required": False,
        "api_only": False,
        "application_type": None,
        "default_value": None,
        "description": None,
        "placeholder": None,
        "expose_in_job_board_api": False,
        "internal_type": None,
        "require_approval": False,
        "trigger_new_version": False,
        "use_for_job_approvals": False,
        "use_for_offer_approvals": False,
        "sort_order": 0,
        "template_token_string": None,
        "updated_by_id": None,
    },
    "email_templates": {
        "name": "",
        "description": None,
        "email_type": "candidate_email",
        "from_type": "user_email",
        "subject": "",
        "body": None,
        "html_body": None,
        "cc_recruiter": False,
        "cc_coordinator": False,
        "recipients": None,
        "default": False,
        "office_anywhere": True,
        "user_id": None,
    },
    "interviewers": {
        "interview_id": None,
        "user_id": None,
        "email": None,
        "response_status": "needs_action",
        "scorecard_id": None,
    },
    "interviews": {
        "application_id": None,
        "job_id": None,
        "job_interview_id": None,
        "external_event_id": None,
        "starts_at": None,
        "ends_at": None,
        "all_day_start_on": None,
        "all_day_end_on": None,
        "location": None,
        "video_conferencing_url": None,
        "status": "scheduled",
        "organizer_id": None,
        "scheduled_at": None,
        "availability_received_at": None,
    },
    "job_interviews": {
        "job_id": None,
        "job_interview_stage_id": None,
        "name": "",
        "sort_order": 0,
        "scheduling_type": "needs_scheduling",
        "duration": 60,
        "require_scorecard": True,
        "active": True,
        "instructions": None,
        "summary": None,
    },
    "jobs": {
        "name": "",
        "requisition_id": None,
        "notes": None,
        "status": "open",
        "confidential": False,
        "is_template": False,
        "copied_from_id": None,
        "department_id": None,
        "office_ids": [],
        "opened_at": None,
        "closed_at": None,
        "custom_fields": {},
    },
    "notes": {
        "candidate_id": None,
        "application_id": None,
        "user_id": None,
        "body": "",
        "body_with_tags": None,
        "subject": None,
        "type": "NOTE",
        "visibility": "admin_only_visible",
        "email_from": None,
        "email_to": None,
        "email_cc": [],
        "email_attachment_file_names": [],
        "import_hash": None,
    },
    "sources": {"name": "", "type": {"id": 1, "name": "Other"}},
    "users": {
        "first_name": "",
        "last_name": "",
        "name": None,
        "primary_email": "",
        "emails": [],
        "employee_id": None,
        "job_title": None,
        "site_admin": False,
        "deactivated": False,
        "agency_id": None,
        "department_ids": [],
        "office_ids": [],
        "linked_candidate_ids": [],
        "interviewer_tags": [],
        "custom_fields": {},
    },
}

VALUE_TYPES = frozenset(
    {
        "short_text",
        "long_text",
        "yes_no",
        "single_select",
        "multi_select",
        "currency",
        "currency_range",
        "number",
        "number_range",
        "date",
        "url",
        "user",
        "attachment",
        "rich_text",
    }
)
FIELD_TYPES = frozenset(
    {
        "job",
        "opening",
        "standard",
        "offer",
        "compensation_frequency",
        "candidate",
        "referral_question",
        "application",
        "rejection_question",
        "form",
        "agency_question",
        "user_attribute",
    }
)
SELECT_TYPES = frozenset({"single_select", "multi_select"})


def name_key_for(name: str) -> str:
    """Derive a custom field's ``name_key`` from its name: "Cost Center" → ``cost_center``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a record without the fake's own ``_`` keys."""
    return {key: value for key, value in record.items() if not key.startswith("_")}
