"""The candidate custom fields Greenguard owns: "Identity Verification Status" and "Secure
Interview Link".

``CandidateFields.ensure()`` makes sure both exist with every option Greenguard writes. The
enricher and the notifier call it at start-up. ``set_status`` and ``set_secure_link`` write a
candidate's value only when it changes.

Option ids without ``harvest:custom_field_options:list``: Harvest V3 writes a select value as an
option id, and none of the 15 scopes Greenguard requests lists options. Creating or updating a
field returns the field with all its options and their ids, so ``ensure`` keeps those ids
durably in ``greenguard.integration-state`` under ``custom-field:<name_key>``:
``{"id", "name", "value_type", "options": {"<option name>": <option id>}}``. At start-up:

1. the stored record is used as it is when it names every option needed (no Harvest call);
2. otherwise the field is looked up in ``GET /v3/custom_fields?field_type=candidate`` by its
   ``name_key`` or its name. A missing field is created. A 422 on that create means another
   replica created it first, so the field is looked up again;
3. an existing select field is updated with an empty option list, which changes nothing and
   returns its options with their ids, even for a field left by an earlier installation.
   Missing options are then added by name and archived ones reactivated by id;
4. the result is published to the integration state.

Several replicas may run this together: the create is the only step that must happen once,
and Greenhouse rejects a second field with the same ``name_key``.

"Only when the value changes" is decided by reading the candidate (``GET /v3/candidates?ids=``)
right before each write. No cache replaces that read, because the other services, other
replicas and recruiters editing in Greenhouse all change these values. A write rejected with 422
may mean that an option id went stale (the field was edited in Greenhouse), so the field is
looked up again once and the write retried once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import Counter
from pydantic import Field

from shared.errors import (
    ConfigurationError,
    GreenhouseError,
    GreenhouseNotFoundError,
    GreenhouseValidationError,
)
from shared.greenhouse import HarvestClient
from shared.kafka import Publisher, read_compacted
from shared.logging import get_logger
from shared.settings import BaseServiceSettings, KafkaSettings
from shared.topics import INTEGRATION_STATE

log = get_logger(__name__)

STATUS_OPTIONS: tuple[str, ...] = (
    "Not Started",
    "Pending",
    "Verified",
    "Failed",
    "Mismatch",
    "Unable to Complete",
)
DEFAULT_STATUS_FIELD_NAME = "Identity Verification Status"
DEFAULT_LINK_FIELD_NAME = "Secure Interview Link"
STATE_KEY_PREFIX = "custom-field:"

FIELD_WRITES = Counter(
    "greenguard_candidate_field_writes_total",
    "Candidate custom field writes requested, by field and outcome "
    "(written, unchanged, not_allowed).",
    ["field", "outcome"],
)


class CustomFieldSettings(BaseServiceSettings):
    """The names of the candidate custom fields Greenguard creates and writes."""

    greenguard_status_field_name: str = Field(
        default=DEFAULT_STATUS_FIELD_NAME,
        min_length=1,
        max_length=255,
        description="Name of the single-select candidate field holding the verification status.",
    )
    greenguard_link_field_name: str = Field(
        default=DEFAULT_LINK_FIELD_NAME,
        min_length=1,
        max_length=255,
        description="Name of the URL candidate field holding the secure interview link.",
    )


@dataclass(frozen=True)
class FieldSpec:
    """A candidate custom field as Greenguard needs it."""

    name: str
    value_type: str
    options: tuple[str, ...] = ()

    @property
    def default_name_key(self) -> str:
        return name_key_for(self.name)


@dataclass(frozen=True)
class KnownField:
    """A candidate custom field as Greenhouse has it; ``options`` maps active option names to ids."""

    id: int
    name: str
    name_key: str
    value_type: str
    active: bool = True
    options: dict[str, int] = field(default_factory=dict)
    # Archived options by name, kept only so that ``ensure`` can reactivate them by id.
    archived_options: dict[str, int] = field(default_factory=dict)

    def missing_options(self, spec: FieldSpec) -> tuple[str, ...]:
        """Return the options ``spec`` needs that this field has no active id for."""
        return tuple(name for name in spec.options if name not in self.options)

    def state_key(self) -> str:
        return f"{STATE_KEY_PREFIX}{self.name_key}"

    def state_document(self) -> dict[str, Any]:
        """Return the record stored in the integration state."""
        return {
            "id": self.id,
            "name": self.name,
            "value_type": self.value_type,
            "options": dict(self.options),
        }


def name_key_for(name: str) -> str:
    """Return the ``name_key`` Greenhouse derives from a field name: "Cost Center" → cost_center.

    Used only to look the field up; the real ``name_key`` always comes from Greenhouse.
    """
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def field_from_response(document: Mapping[str, Any]) -> KnownField:
    """Build a KnownField from a custom field returned by Harvest (options included if present)."""
    options: dict[str, int] = {}
    archived: dict[str, int] = {}
    for option in document.get("custom_field_options") or []:
        target = options if option.get("active", True) else archived
        target[str(option["name"])] = int(option["id"])
    return KnownField(
        id=int(document["id"]),
        name=str(document["name"]),
        name_key=str(document["name_key"]),
        value_type=str(document["value_type"]),
        active=bool(document.get("active", True)),
        options=options,
        archived_options=archived,
    )


def stored_field(state: Mapping[str, bytes], spec: FieldSpec) -> KnownField | None:
    """Return the field stored in the integration state for ``spec``, or None.

    The record is found under the ``name_key`` derived from the configured name, or under any
    ``custom-field:`` key whose record has that name (a field whose key differs).
    """
    candidates = [f"{STATE_KEY_PREFIX}{spec.default_name_key}"]
    candidates += sorted(key for key in state if key.startswith(STATE_KEY_PREFIX))
    for key in candidates:
        raw = state.get(key)
        if raw is None:
            continue
        try:
            document = orjson.loads(raw)
            known = KnownField(
                id=int(document["id"]),
                name=str(document["name"]),
                name_key=key.removeprefix(STATE_KEY_PREFIX),
                value_type=str(document["value_type"]),
                options={str(name): int(value) for name, value in document["options"].items()},
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            log.warning("custom_field_state_invalid", key=key)
            continue
        if known.name.casefold() == spec.name.casefold() and known.value_type == spec.value_type:
            return known
    return None


def match_field(fields: list[dict[str, Any]], spec: FieldSpec) -> dict[str, Any] | None:
    """Pick the candidate field for ``spec`` from a custom-field listing.

    A field whose ``name_key`` matches wins over one whose name matches; active wins over
    archived. Raise ConfigurationError when the match has another value type.
    """

    def rank(document: dict[str, Any]) -> tuple[int, int]:
        by_key = document.get("name_key") == spec.default_name_key
        return (0 if by_key else 1, 0 if document.get("active", True) else 1)

    matches = [
        document
        for document in fields
        if document.get("field_type", "candidate") == "candidate"
        and (
            document.get("name_key") == spec.default_name_key
            or str(document.get("name", "")).casefold() == spec.name.casefold()
        )
    ]
    if not matches:
        return None
    best = min(matches, key=rank)
    if best.get("value_type") != spec.value_type:
        raise ConfigurationError(
            f"the candidate custom field {best.get('name')!r} (id {best.get('id')}) is a "
            f"{best.get('value_type')} field, but Greenguard needs a {spec.value_type} field "
            "under that name; rename or delete it in Greenhouse, or configure another name"
        )
    return best


class CandidateFields:
    """The status and secure-link candidate fields: created once, written only on change."""

    def __init__(
        self,
        client: HarvestClient,
        publisher: Publisher,
        kafka_settings: KafkaSettings,
        *,
        status_field_name: str = DEFAULT_STATUS_FIELD_NAME,
        link_field_name: str = DEFAULT_LINK_FIELD_NAME,
    ) -> None:
        self._client = client
        self._publisher = publisher
        self._kafka_settings = kafka_settings
        self.status_spec = FieldSpec(status_field_name, "single_select", STATUS_OPTIONS)
        self.link_spec = FieldSpec(link_field_name, "url")
        self._fields: dict[FieldSpec, KnownField] = {}
        self._lock = asyncio.Lock()

    @property
    def status_field(self) -> KnownField | None:
        """The status field once ``ensure`` ran, else None."""
        return self._fields.get(self.status_spec)

    @property
    def link_field(self) -> KnownField | None:
        """The secure-link field once ``ensure`` ran, else None."""
        return self._fields.get(self.link_spec)

    async def ensure(self) -> None:
        """Make sure both fields exist with every option, and learn their option ids.

        Idempotent and safe to run in several replicas at once; see the module docstring.
        """
        async with self._lock:
            state = await read_compacted(self._kafka_settings, INTEGRATION_STATE)
            for spec in (self.status_spec, self.link_spec):
                stored = stored_field(state, spec)
                if stored is not None and not stored.missing_options(spec):
                    self._fields[spec] = stored
                    log.info("custom_field_loaded", field_id=stored.id, name_key=stored.name_key)
                    continue
                self._fields[spec] = await self._synchronize(spec, stored)

    async def set_status(
        self,
        candidate_id: int,
        status: str,
        *,
        only_from: Collection[str | None] | None = None,
    ) -> bool:
        """Set the candidate's verification status; return whether a write happened.

        Nothing is written when the status already has that value, or when ``only_from`` is
        given and the current value (None: no value) is not in it. Pending, for example, is
        set only from ``{None, "Not Started"}`` so that it never replaces a final status.
        """
        if status not in STATUS_OPTIONS:
            raise ValueError(
                f"invalid verification status {status!r}; expected one of "
                f"{', '.join(STATUS_OPTIONS)}"
            )
        return await self._write(self.status_spec, candidate_id, status, only_from)

    async def set_secure_link(self, candidate_id: int, url: str | None) -> bool:
        """Set the candidate's secure interview link (None clears it); return whether it wrote."""
        return await self._write(self.link_spec, candidate_id, url, None)

    async def set_protection(
        self, candidate_id: int, url: str, *, status: str, only_from: Collection[str | None]
    ) -> bool:
        """Set the secure link and, when allowed, the status with one read and one write.

        The status changes only when its current value is in ``only_from``, as in
        ``set_status``. Returns whether a write happened.
        """
        link, verification = await self._field(self.link_spec), await self._field(self.status_spec)
        # NOTE: Harvest has no conditional write. A final status that the notifier writes
        # between this read and the PATCH below is replaced by Pending. The window is one
        # request long, and the notifier's note still records the outcome.
        values = await self._current_values(candidate_id)
        entries: list[tuple[KnownField, str]] = []
        if values.get(link.name_key) != url:
            entries.append((link, url))
        current_status = values.get(verification.name_key)
        if current_status != status and current_status in only_from:
            entries.append((verification, status))
        if not entries:
            FIELD_WRITES.labels(link.name_key, "unchanged").inc()
            return False
        try:
            await self._send_many(candidate_id, entries)
        except GreenhouseValidationError as exc:
            # A stale option id or an archived field: look both fields up again, retry once.
            log.warning(
                "candidate_fields_write_rejected", candidate_id=candidate_id, reason=str(exc)
            )
            async with self._lock:
                for spec in (self.link_spec, self.status_spec):
                    self._fields[spec] = await self._synchronize(spec, None)
            refreshed = {known.name_key: known for known in self._fields.values()}
            entries = [(refreshed[known.name_key], value) for known, value in entries]
            await self._send_many(candidate_id, entries)
        for known, _value in entries:
            FIELD_WRITES.labels(known.name_key, "written").inc()
        log.info(
            "candidate_fields_written",
            candidate_id=candidate_id,
            name_keys=[known.name_key for known, _value in entries],
        )
        return True

    async def _field(self, spec: FieldSpec) -> KnownField:
        if spec not in self._fields:
            await self.ensure()
        return self._fields[spec]

    async def _write(
        self,
        spec: FieldSpec,
        candidate_id: int,
        desired: str | None,
        only_from: Collection[str | None] | None,
    ) -> bool:
        known = await self._field(spec)
        current = await self._current_value(candidate_id, known.name_key)
        if current == desired:
            FIELD_WRITES.labels(known.name_key, "unchanged").inc()
            return False
        if only_from is not None and current not in only_from:
            FIELD_WRITES.labels(known.name_key, "not_allowed").inc()
            log.info(
                "candidate_field_transition_skipped",
                candidate_id=candidate_id,
                name_key=known.name_key,
                current=current,
                requested=desired,
            )
            return False
        try:
            await self._send(candidate_id, known, desired)
        except GreenhouseValidationError as exc:
            # A stale option id or an archived field: look the field up again, then retry once.
            log.warning(
                "candidate_field_write_rejected",
                candidate_id=candidate_id,
                name_key=known.name_key,
                reason=str(exc),
            )
            async with self._lock:
                self._fields[spec] = await self._synchronize(spec, None)
            await self._send(candidate_id, self._fields[spec], desired)
        FIELD_WRITES.labels(known.name_key, "written").inc()
        log.info(
            "candidate_field_written",
            candidate_id=candidate_id,
            name_key=known.name_key,
            previous=current if spec.options else None,
            value=desired if spec.options else None,
        )
        return True

    async def _current_value(self, candidate_id: int, name_key: str) -> Any:
        return (await self._current_values(candidate_id)).get(name_key)

    async def _current_values(self, candidate_id: int) -> dict[str, Any]:
        """Return the candidate's custom field values by name_key; raise when it is unknown."""
        candidates = await self._client.get_by_ids("candidates", [candidate_id])
        if not candidates:
            raise GreenhouseNotFoundError(
                f"candidate {candidate_id} was not found in Greenhouse (deleted or merged?)",
                method="GET",
                path="/v3/candidates",
            )
        fields = candidates[0].get("custom_fields") or {}
        return {
            key: entry.get("value") if isinstance(entry, dict) else None
            for key, entry in fields.items()
        }

    async def _send(self, candidate_id: int, known: KnownField, desired: str | None) -> None:
        await self._send_many(candidate_id, [(known, desired)])

    async def _send_many(
        self, candidate_id: int, entries: Collection[tuple[KnownField, str | None]]
    ) -> None:
        values = []
        for known, desired in entries:
            value: Any = desired
            if known.value_type == "single_select" and desired is not None:
                value = known.options[desired]
            values.append({"name_key": known.name_key, "value": value})
        await self._client.update_candidate(candidate_id, {"custom_fields": values})

    async def _synchronize(self, spec: FieldSpec, stored: KnownField | None) -> KnownField:
        """Find or create the field in Greenhouse, complete its options and store the result."""
        document = await self._find(spec)
        if document is None:
            document = await self._create(spec)
        known = field_from_response(document)
        if not known.active:
            raise ConfigurationError(
                f"the candidate custom field {known.name!r} (id {known.id}) is archived in "
                "Greenhouse; unarchive it, or configure another field name"
            )
        if spec.options:
            known = await self._complete_options(spec, known)
        await self._store(known, stored)
        log.info("custom_field_ready", field_id=known.id, name_key=known.name_key)
        return known

    async def _find(self, spec: FieldSpec) -> dict[str, Any] | None:
        fields = await self._client.list_all("custom_fields", field_type="candidate")
        return match_field(fields, spec)

    async def _create(self, spec: FieldSpec) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": spec.name,
            "field_type": "candidate",
            "value_type": spec.value_type,
            "description": "Written by Greenguard.",
        }
        if spec.options:
            body["custom_field_options"] = [
                {"name": name, "sort_order": order} for order, name in enumerate(spec.options)
            ]
        try:
            document = await self._client.create_custom_field(body)
        except GreenhouseValidationError as exc:
            # Another replica, or an earlier installation, may have created it meanwhile.
            existing = await self._find(spec)
            if existing is None:
                raise
            log.info("custom_field_created_elsewhere", field_id=existing.get("id"), reason=str(exc))
            return existing
        log.info("custom_field_created", field_id=document.get("id"), name=spec.name)
        return document

    async def _complete_options(self, spec: FieldSpec, known: KnownField) -> KnownField:
        # Updating with an empty option list changes nothing and returns every option with
        # its id, which is the only way to learn option ids without the options-list scope.
        # NOTE: Greenhouse does not document the v3 update request or response. This relies on
        # the response listing every option with its id, as the fake Greenhouse does.
        if not known.options and not known.archived_options:
            known = field_from_response(await self._update_options(known, []))
        for attempt in (1, 2):
            missing = known.missing_options(spec)
            if not missing:
                return known
            entries: list[dict[str, Any]] = [
                {"id": known.archived_options[name], "active": True}
                if name in known.archived_options
                else {"name": name, "sort_order": spec.options.index(name)}
                for name in missing
            ]
            try:
                known = field_from_response(await self._update_options(known, entries))
            except GreenhouseValidationError:
                if attempt == 2:
                    raise
                # Another replica added the same option a moment ago: read the options again.
                known = field_from_response(await self._update_options(known, []))
            else:
                log.info("custom_field_options_added", field_id=known.id, options=list(missing))
        missing = known.missing_options(spec)
        if missing:
            raise GreenhouseError(
                f"the custom field {known.name!r} (id {known.id}) still lacks the options "
                f"{', '.join(missing)} after adding them; add them in Greenhouse by hand"
            )
        return known

    async def _update_options(
        self, known: KnownField, entries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return await self._client.update_custom_field(known.id, {"custom_field_options": entries})

    async def _store(self, known: KnownField, stored: KnownField | None) -> None:
        if stored is not None and stored.state_document() == known.state_document():
            return
        await self._publisher.publish(
            INTEGRATION_STATE, known.state_key(), orjson.dumps(known.state_document())
        )
