"""The connection check: are the Harvest V3 credentials valid and do they grant what we need?

``greenguard connect`` runs it once; each service runs it at start-up and then periodically
through ``ConnectionMonitor``. The outcome is a ``ConnectionReport``:

- ``Failed``: no token (invalid client id or secret, token endpoint unreachable, ...), the
  granted scopes cannot be learnt, or scopes are missing (``missing_scopes`` names them);
- ``Degraded``: credentials and scopes are fine, but the acting user does not look like a Site
  Admin or the email-template audit could not run;
- ``Connected``: everything checked passed. Template findings are warnings in every status.

The scope comparison and the template audit are pure functions.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from shared.errors import (
    ConfigurationError,
    GreenhouseAuthError,
    GreenhouseError,
    GreenhouseRequestError,
    GreenhouseUnavailableError,
)
from shared.events import isoformat, parse_timestamp, utc_now
from shared.greenhouse import HarvestClient, Introspection
from shared.logging import get_logger

log = get_logger(__name__)

ConnectionStatus = Literal["Connected", "Failed", "Degraded"]

REQUIRED_SCOPES: tuple[str, ...] = (
    "harvest:applications:list",
    "harvest:candidates:list",
    "harvest:candidates:update",
    "harvest:custom_fields:create",
    "harvest:custom_fields:list",
    "harvest:custom_fields:update",
    "harvest:email_templates:list",
    "harvest:interviews:list",
    "harvest:interviewers:list",
    "harvest:job_interviews:list",
    "harvest:jobs:list",
    "harvest:notes:create",
    "harvest:notes:list",
    "harvest:sources:list",
    "harvest:users:list",
)

SCOPES_HINT = (
    "add them to the credential under Configure > Dev Center > API Credential Management > "
    "Manage Scopes"
)

# {{INTERVIEW_SCHEDULE}}, {{ interview schedule }}, {{Interview_Schedule}}, ...
SCHEDULE_PLACEHOLDER = re.compile(r"\{\{\s*interview[\s_-]*schedule\s*\}\}", re.IGNORECASE)

# NOTE: Greenhouse has about fifty email types and no public list of who receives each. These
# go to employees, so the placeholder is harmless there; every other type counts as
# candidate-facing, which errs towards a warning too many.
_INTERNAL_EMAIL_TYPE_PREFIXES = ("interviewer_", "scorecard_", "internal_", "approval_")
_TEMPLATE_TEXT_FIELDS = ("subject", "body", "html_body")


def missing_scopes(granted: Iterable[str]) -> tuple[str, ...]:
    """Return the required scopes absent from ``granted``, in REQUIRED_SCOPES order."""
    granted_set = set(granted)
    return tuple(scope for scope in REQUIRED_SCOPES if scope not in granted_set)


def is_candidate_facing(template: Mapping[str, Any]) -> bool:
    """Return whether an email template may go to candidates, judged by its ``email_type``."""
    email_type = template.get("email_type")
    if not isinstance(email_type, str):
        return True
    return not email_type.startswith(_INTERNAL_EMAIL_TYPE_PREFIXES)


@dataclass(frozen=True)
class TemplateFinding:
    """A candidate-facing email template that contains the interview-schedule placeholder."""

    template_id: int | None
    name: str
    email_type: str | None
    fields: tuple[str, ...]

    def warning(self) -> str:
        """Return the warning printed for this template, with the fix."""
        where = " and ".join(self.fields)
        return (
            f"email template {self.name!r} (id {self.template_id}) has the interview-schedule "
            f"placeholder in its {where}, which sends candidates the original meeting link and "
            "bypasses the secure link; remove the placeholder from the template"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {
            "id": self.template_id,
            "name": self.name,
            "email_type": self.email_type,
            "fields": list(self.fields),
        }


def audit_email_templates(templates: Iterable[Mapping[str, Any]]) -> tuple[TemplateFinding, ...]:
    """Find candidate-facing templates whose subject or body has the schedule placeholder."""
    findings = []
    for template in templates:
        if not is_candidate_facing(template):
            continue
        fields = tuple(
            name
            for name in _TEMPLATE_TEXT_FIELDS
            if isinstance(template.get(name), str) and SCHEDULE_PLACEHOLDER.search(template[name])
        )
        if fields:
            template_id = template.get("id")
            findings.append(
                TemplateFinding(
                    template_id=template_id if isinstance(template_id, int) else None,
                    name=str(template.get("name") or "(unnamed)"),
                    email_type=template.get("email_type"),
                    fields=fields,
                )
            )
    return tuple(findings)


@dataclass(frozen=True)
class ConnectionReport:
    """The outcome of one connection check."""

    status: ConnectionStatus
    reason: str
    checked_at: datetime = field(default_factory=utc_now)
    missing_scopes: tuple[str, ...] = ()
    organization_id: int | None = None
    organization_name: str | None = None
    templates: tuple[TemplateFinding, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """One line per template finding."""
        return tuple(finding.warning() for finding in self.templates)

    @property
    def exit_code(self) -> int:
        """0 unless Failed: 2 when scopes are missing, else 1."""
        if self.status != "Failed":
            return 0
        return 2 if self.missing_scopes else 1

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping, the output of ``greenguard connect --json``."""
        return {
            "status": self.status,
            "reason": self.reason,
            "missing_scopes": list(self.missing_scopes),
            "organization": {"id": self.organization_id, "name": self.organization_name},
            "warnings": list(self.warnings),
            "templates": [finding.to_dict() for finding in self.templates],
            "checked_at": isoformat(self.checked_at),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ConnectionReport:
        """Rebuild a report from ``to_dict`` output (for ``greenguard status``)."""
        organization = document.get("organization") or {}
        return cls(
            status=document["status"],
            reason=document.get("reason", ""),
            checked_at=parse_timestamp(document.get("checked_at")) or utc_now(),
            missing_scopes=tuple(document.get("missing_scopes") or ()),
            organization_id=organization.get("id"),
            organization_name=organization.get("name"),
            templates=tuple(
                TemplateFinding(
                    template_id=item.get("id"),
                    name=item.get("name", ""),
                    email_type=item.get("email_type"),
                    fields=tuple(item.get("fields") or ()),
                )
                for item in document.get("templates") or ()
            ),
        )

    def lines(self) -> list[str]:
        """Return the output lines: the status line, the missing scopes, then the warnings."""
        output = [f"{self.status}: {self.reason}" if self.status != "Connected" else self.reason]
        if self.missing_scopes:
            output.append("Missing scopes:")
            output += [f"  {scope}" for scope in self.missing_scopes]
        output += [f"Warning: {warning}" for warning in self.warnings]
        return output


def failed(reason: str, **details: Any) -> ConnectionReport:
    """Build a Failed report."""
    return ConnectionReport(status="Failed", reason=reason, **details)


async def check_connection(client: HarvestClient) -> ConnectionReport:
    """Check the credentials, the granted scopes and the email templates, in that order."""
    try:
        token = await client.token()
    except ConfigurationError as exc:
        return failed(str(exc))
    except GreenhouseAuthError as exc:
        return failed(f"{exc}; check GREENHOUSE_CLIENT_ID and GREENHOUSE_CLIENT_SECRET")
    except GreenhouseUnavailableError as exc:
        if exc.status is None:
            return failed(f"{exc}; check GREENHOUSE_TOKEN_URL and the network")
        return failed(f"{exc}; try again later")
    except GreenhouseError as exc:
        return failed(f"{exc}; check GREENHOUSE_TOKEN_URL")

    introspection: Introspection | None = None
    try:
        introspection = await client.introspect()
    except (GreenhouseRequestError, GreenhouseUnavailableError) as exc:
        if token.scopes is None:
            return failed(f"could not learn the granted scopes: {exc}")
        log.warning("greenhouse_introspection_failed", error=type(exc).__name__)
    except GreenhouseError as exc:
        return failed(f"could not learn the granted scopes: {exc}")

    if introspection is not None and not introspection.active:
        return failed("the introspection endpoint reports the new token inactive")
    granted = introspection.scopes if introspection is not None else token.scopes or frozenset()
    # Status and reason are set below; the organization is known from here on.
    found = ConnectionReport(
        status="Connected",
        reason="",
        organization_id=introspection.organization_id if introspection else None,
        organization_name=introspection.organization_name if introspection else None,
    )

    missing = missing_scopes(granted)
    if missing:
        return replace(
            found,
            status="Failed",
            reason=f"the credential lacks {len(missing)} of the {len(REQUIRED_SCOPES)} scopes "
            f"the integration needs; {SCOPES_HINT}",
            missing_scopes=missing,
        )

    try:
        templates = audit_email_templates(await client.list_all("email_templates"))
    except GreenhouseError as exc:
        return replace(found, status="Degraded", reason=f"the email-template audit failed: {exc}")

    name = found.organization_name or "(organization name not reported)"
    role = introspection.user_role if introspection else None
    # NOTE: "site_admin" is the only role value seen in public clients; the full vocabulary
    # is undocumented, so another value degrades rather than fails the check.
    if role is not None and role != "site_admin":
        return replace(
            found,
            status="Degraded",
            reason=f"connected to {name}, but the acting user's role is {role!r} and list "
            "endpoints need a Site Admin; set GREENHOUSE_ACTING_USER_ID to a Site Admin's id",
            templates=templates,
        )
    return replace(found, reason=f"Connected to {name}", templates=templates)


class ConnectionMonitor:
    """Runs the connection check at start-up and then every ``interval_seconds``.

    ``latest`` is the last report, for readiness probes and ``greenguard status``; an
    interval of 0 checks once.
    """

    def __init__(self, client: HarvestClient, interval_seconds: float) -> None:
        self._client = client
        self._interval = interval_seconds
        self.latest: ConnectionReport | None = None

    @property
    def ready(self) -> bool:
        """Whether the last check found working credentials with every scope."""
        return self.latest is not None and self.latest.status != "Failed"

    async def check_once(self) -> ConnectionReport:
        """Run one check, log its outcome and keep it as ``latest``."""
        report = await check_connection(self._client)
        self.latest = report
        emit = log.info if report.status == "Connected" else log.warning
        emit(
            "greenhouse_connection_checked",
            status=report.status,
            reason=report.reason,
            missing_scopes=list(report.missing_scopes),
            flagged_templates=[finding.template_id for finding in report.templates],
        )
        return report

    async def run(self) -> None:
        """Check now and then periodically until cancelled."""
        while True:
            await self.check_once()
            if self._interval <= 0:
                return
            await asyncio.sleep(self._interval)
