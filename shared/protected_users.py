"""Protected users: the recruiters and HR people whose interviews get secure links.

The list lives in the compacted topic ``greenguard.protected-users``: the key is the lower-cased
email address, the value ``{"schema_version": 1, "email": ..., "added_at": ...}``, and a
tombstone removes the user. ``greenguard protected-users`` edits it; ``ProtectedUsers`` is the
enricher's live view of it.

Addresses are checked for a plain ``local@domain`` form (no display name, no comments, no
quoted local part). When ``GREENGUARD_PROTECTED_DOMAINS`` is set, only addresses whose domain is
exactly one of those domains are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from shared.errors import InvalidEventError
from shared.events import isoformat
from shared.follow import TopicTable
from shared.settings import BaseServiceSettings, KafkaSettings
from shared.topics import PROTECTED_USERS

SCHEMA_VERSION = 1
MAX_EMAIL_LENGTH = 254

_LOCAL_PART = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+[a-z]{{2,63}}")


def normalize_email(text: str, domains: Collection[str] = ()) -> str:
    """Return the address lower-cased, or raise ValueError saying what is wrong with it.

    ``domains``, when not empty, lists the only domains accepted (lower-case, exact match).
    """
    address = text.strip().lower()
    if not address:
        raise ValueError("empty address")
    if len(address) > MAX_EMAIL_LENGTH:
        raise ValueError(f"address is longer than {MAX_EMAIL_LENGTH} characters")
    local, at, domain = address.rpartition("@")
    if not at or not local:
        raise ValueError(f"{address!r} is not an email address (expected name@domain)")
    if len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        raise ValueError(f"{address!r} has an invalid part before the @")
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"{address!r} has an invalid domain")
    if domains and domain not in domains:
        raise ValueError(
            f"{address!r} is not on a company domain ({', '.join(sorted(domains))}); "
            "GREENGUARD_PROTECTED_DOMAINS lists the accepted ones"
        )
    return address


def parse_domains(value: Any) -> list[str]:
    """Turn a comma-separated domain list (or a list) into checked lower-case domains."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    domains = [str(item).strip().lower().lstrip("@") for item in items if str(item).strip()]
    for domain in domains:
        if not _DOMAIN.fullmatch(domain):
            raise ValueError(f"{domain!r} is not a domain name such as example.com")
    return domains


class ProtectedDomainSettings(BaseServiceSettings):
    """The optional restriction of protected users to company domains."""

    greenguard_protected_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated domains; when set, only addresses on them can be protected.",
    )

    @field_validator("greenguard_protected_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: Any) -> list[str]:
        return parse_domains(value)


def encode_user(email: str, added_at: datetime) -> bytes:
    """Return the record value stored for a protected user."""
    return orjson.dumps(
        {"schema_version": SCHEMA_VERSION, "email": email, "added_at": isoformat(added_at)}
    )


def decode_user(key: str, raw: bytes) -> str:
    """Return the protected email of one record; raise InvalidEventError for a malformed one."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidEventError("protected-user record is not JSON") from None
    email = document.get("email") if isinstance(document, dict) else None
    if not isinstance(email, str) or email.lower() != key:
        raise InvalidEventError("protected-user record's email does not match its key")
    return key


class ProtectedUsers:
    """The live set of protected email addresses, the same in every replica."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._table: TopicTable[str] = TopicTable(settings, PROTECTED_USERS, decode_user)

    async def start(self) -> None:
        """Load the topic and follow it; raise BrokerUnavailableError if it cannot be read."""
        await self._table.start()

    async def stop(self) -> None:
        await self._table.stop()

    def __contains__(self, email: object) -> bool:
        return isinstance(email, str) and email.lower() in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)
