"""The write endpoints: candidate updates, custom fields and notes.

Each function checks the whole body before changing anything, so a 422 leaves the state as it
was. An unknown candidate on ``PATCH /v3/candidates/{id}`` raises ``RecordNotFound``, returned as
404 like any unknown id in a path. An unknown candidate named in a note body is a 422.
"""

from __future__ import annotations

from typing import Any

from devstack.fake_greenhouse.custom_fields import WriteError, check_value
from devstack.fake_greenhouse.records import FIELD_TYPES, SELECT_TYPES, VALUE_TYPES, name_key_for
from devstack.fake_greenhouse.state import FakeState, iso_now

CANDIDATE_WRITABLE = frozenset(
    {
        "first_name",
        "last_name",
        "preferred_name",
        "company",
        "title",
        "time_zone",
        "phone_numbers",
        "addresses",
        "email_addresses",
        "website_addresses",
        "social_media_addresses",
        "tags",
        "linked_user_ids",
        "private",
        "can_email",
    }
)
CUSTOM_FIELD_WRITABLE = frozenset(
    {
        "name",
        "description",
        "private",
        "required",
        "require_approval",
        "trigger_new_version",
        "expose_in_job_board_api",
        "api_only",
        "active",
        "template_token_string",
    }
)
NOTE_VISIBILITIES = {
    "admin_only": "admin_only_visible",
    "private": "privately_visible",
    "public": "publicly_visible",
    "admin_only_visible": "admin_only_visible",
    "privately_visible": "privately_visible",
    "publicly_visible": "publicly_visible",
}
WRITABLE_NOTE_TYPES = frozenset({"NOTE", "ACTIVITY", "EMAIL"})


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise WriteError("the request body must be a JSON object")
    return body


def _reject_unknown(body: dict[str, Any], allowed: frozenset[str] | set[str]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise WriteError(f"unknown attribute {unknown[0]!r}", unknown[0])


def update_candidate(state: FakeState, candidate_id: int, body: Any) -> dict[str, Any]:
    """Apply ``PATCH /v3/candidates/{id}``: standard fields and custom fields merged by name_key."""
    body = _require_object(body)
    with state.lock:
        candidate = state.get("candidates", candidate_id)
        _reject_unknown(body, CANDIDATE_WRITABLE | {"custom_fields"})
        for name in ("first_name", "last_name"):
            if name in body and (not isinstance(body[name], str) or not body[name].strip()):
                raise WriteError(f"{name} must be a non-empty string", name)
        custom = check_custom_field_entries(state, body.get("custom_fields", []))
        standard = {key: value for key, value in body.items() if key != "custom_fields"}
        state.update("candidates", candidate_id, standard)
        state.custom_values.setdefault(candidate_id, {}).update(custom)
        candidate["last_activity_at"] = candidate["updated_at"]
        return state.candidate_view(candidate)


def check_custom_field_entries(state: FakeState, entries: Any) -> dict[str, Any]:
    """Check ``[{"name_key", "value"}]`` entries and return the values by name_key."""
    if not isinstance(entries, list):
        raise WriteError(
            "custom_fields must be a list of {name_key, value} objects", "custom_fields"
        )
    definitions = state.candidate_fields()
    user_ids = set(state.records["users"])
    values: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"name_key", "value"}:
            raise WriteError(
                "each custom_fields entry must be an object with name_key and value",
                "custom_fields",
            )
        definition = definitions.get(entry["name_key"])
        if definition is None or not definition["active"]:
            raise WriteError(
                f"{entry['name_key']!r} is not an active candidate custom field", "custom_fields"
            )
        options = state.options_of(definition["id"])
        values[entry["name_key"]] = check_value(definition, options, user_ids, entry["value"])
    return values


def _check_options(entries: Any, *, existing: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    if not isinstance(entries, list):
        raise WriteError("custom_field_options must be a list", "custom_field_options")
    names = {option["name"] for option in existing.values()}
    checked = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise WriteError("each option must be an object", "custom_field_options")
        _reject_unknown(entry, {"id", "name", "sort_order", "priority", "external_id", "active"})
        if "id" in entry:
            if entry["id"] not in existing:
                raise WriteError(
                    f"option {entry['id']!r} does not belong to this field", "custom_field_options"
                )
        elif not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise WriteError("a new option needs a non-empty name", "custom_field_options")
        elif entry["name"] in names:
            raise WriteError(
                f"an option named {entry['name']!r} already exists", "custom_field_options"
            )
        else:
            names.add(entry["name"])
        checked.append(entry)
    return checked


def _save_options(state: FakeState, field_id: int, entries: list[dict[str, Any]]) -> None:
    next_order = len(state.options_of(field_id, active_only=False))
    for entry in entries:
        fields = {key: value for key, value in entry.items() if key not in ("id", "priority")}
        if "priority" in entry and "sort_order" not in entry:
            fields["sort_order"] = entry["priority"]
        if "id" in entry:
            state.update("custom_field_options", entry["id"], fields)
        else:
            fields.setdefault("sort_order", next_order)
            next_order += 1
            state.insert("custom_field_options", {**fields, "custom_field_id": field_id})


def create_custom_field(state: FakeState, body: Any) -> dict[str, Any]:
    """Apply ``POST /v3/custom_fields`` and return the field with its options."""
    body = _require_object(body)
    with state.lock:
        _reject_unknown(
            body,
            CUSTOM_FIELD_WRITABLE
            | {"field_type", "value_type", "custom_field_options", "name_key"},
        )
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise WriteError("name is required", "name")
        if body.get("field_type") not in FIELD_TYPES:
            raise WriteError(
                f"field_type must be one of {', '.join(sorted(FIELD_TYPES))}", "field_type"
            )
        if body.get("value_type") not in VALUE_TYPES:
            raise WriteError(
                f"value_type must be one of {', '.join(sorted(VALUE_TYPES))}", "value_type"
            )
        name_key = body.get("name_key") or name_key_for(name)
        taken = any(
            existing["name_key"] == name_key and existing["field_type"] == body["field_type"]
            for existing in state.records["custom_fields"].values()
        )
        if taken:
            raise WriteError(
                f"a {body['field_type']} field with name_key {name_key!r} exists", "name"
            )
        options = _check_options(body.get("custom_field_options", []), existing={})
        if body["value_type"] in SELECT_TYPES and not options:
            raise WriteError("select fields need custom_field_options", "custom_field_options")
        if options and body["value_type"] not in SELECT_TYPES:
            raise WriteError("only select fields take options", "custom_field_options")
        fields = {key: value for key, value in body.items() if key != "custom_field_options"}
        definition = state.insert("custom_fields", {**fields, "name_key": name_key})
        _save_options(state, definition["id"], options)
        return state.custom_field_view(definition)


def update_custom_field(state: FakeState, field_id: int, body: Any) -> dict[str, Any]:
    """Apply ``PATCH /v3/custom_fields/{id}``: attributes, new options and option edits."""
    body = _require_object(body)
    with state.lock:
        definition = state.get("custom_fields", field_id)
        _reject_unknown(body, CUSTOM_FIELD_WRITABLE | {"custom_field_options"})
        if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
            raise WriteError("name must be a non-empty string", "name")
        existing = state.options_of(field_id, active_only=False)
        options = _check_options(body.get("custom_field_options", []), existing=existing)
        if options and definition["value_type"] not in SELECT_TYPES:
            raise WriteError("only select fields take options", "custom_field_options")
        fields = {key: value for key, value in body.items() if key != "custom_field_options"}
        state.update("custom_fields", field_id, fields)
        _save_options(state, field_id, options)
        return state.custom_field_view(definition)


def create_note(state: FakeState, body: Any, *, author_id: int | None) -> dict[str, Any]:
    """Apply ``POST /v3/notes``; the author defaults to the token's acting user."""
    body = _require_object(body)
    with state.lock:
        _reject_unknown(
            body, {"candidate_id", "application_id", "user_id", "body", "visibility", "note_type"}
        )
        candidate_id = body.get("candidate_id")
        if candidate_id not in state.records["candidates"]:
            raise WriteError(f"candidate {candidate_id!r} does not exist", "candidate_id")
        application_id = body.get("application_id")
        if application_id is not None:
            application = state.records["applications"].get(application_id)
            if application is None or application["candidate_id"] != candidate_id:
                raise WriteError(
                    f"application {application_id!r} does not belong to the candidate",
                    "application_id",
                )
        user_id = body.get("user_id", author_id)
        if user_id is not None and user_id not in state.records["users"]:
            raise WriteError(f"user {user_id!r} does not exist", "user_id")
        text = body.get("body")
        if not isinstance(text, str) or not text.strip():
            raise WriteError("body must be a non-empty string", "body")
        visibility = NOTE_VISIBILITIES.get(body.get("visibility", "admin_only"))
        if visibility is None:
            raise WriteError("visibility must be admin_only, private or public", "visibility")
        note_type = body.get("note_type", "NOTE")
        if note_type not in WRITABLE_NOTE_TYPES:
            raise WriteError("note_type must be NOTE, ACTIVITY or EMAIL", "note_type")
        note = state.insert(
            "notes",
            {
                "candidate_id": candidate_id,
                "application_id": application_id,
                "user_id": user_id,
                "body": text,
                "body_with_tags": text,
                "type": note_type,
                "visibility": visibility,
            },
        )
        state.get("candidates", candidate_id)["last_activity_at"] = iso_now()
        return dict(note)
