"""The Kafka topics of Greenguard: names, keys and whether the topic is compacted.

The default names are part of the product's interface: the verification platform, the calendar
side and on-call tools read them. ``KAFKA_TOPIC_PREFIX`` prefixes all of them at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its default name, what its key is, and whether it keeps only the last value."""

    name: str
    key: str
    compacted: bool = False
    description: str = ""


CANDIDATE_EVENTS = TopicSpec(
    "greenhouse.candidate-events",
    key="candidate id as a decimal string (see the README for offers and interviews)",
    description="Normalized webhook and polled events about candidates and their records.",
)
ORG_EVENTS = TopicSpec(
    "greenhouse.org-events",
    key="<resource>:<id>, for example job:4001",
    description="Normalized events about jobs, users, sources and other organisation records.",
)
POLLER_STATE = TopicSpec(
    "greenguard.poller-state",
    key="mark:<resource> (high-water mark), sweep, or the poller's own per-record keys",
    compacted=True,
    description="Where the poller resumes after a restart.",
)
POLLER_LEADER = TopicSpec(
    "greenguard.poller-leader",
    key="none; never written",
    description="Single-partition topic whose consumer-group assignment elects the active poller.",
)
PROTECTED_USERS = TopicSpec(
    "greenguard.protected-users",
    key="lower-cased email; a tombstone removes the user",
    compacted=True,
    description="Recruiters and HR people whose interviews are protected.",
)
PROTECTED_MEETINGS = TopicSpec(
    "greenguard.protected-meetings",
    key="interview id",
    description="interview.protected, interview.unprotected and interview.link_opened events.",
)
VERIFICATION_ALERTS = TopicSpec(
    "greenguard.verification-alerts",
    key="candidate id",
    description="Alerts from the verification platform and the enricher, written as notes.",
)
CANDIDATE_CONTEXT = TopicSpec(
    "greenguard.candidate-context",
    key="candidate id; a tombstone forgets the candidate",
    compacted=True,
    description="Trusted candidate context for the verification platform.",
)
INTEGRATION_STATE = TopicSpec(
    "greenguard.integration-state",
    key="custom-field:<name_key>, connect:<service>, notes-ledger:<alert id>, dlq-replay:<id>",
    compacted=True,
    description="Durable state: custom field option ids, the last connection check, notes written.",
)
DEAD_LETTER = TopicSpec(
    "greenguard.dead-letter",
    key="the original record's key",
    description="Records that can never be processed, with the reason in headers.",
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    CANDIDATE_EVENTS,
    ORG_EVENTS,
    POLLER_STATE,
    POLLER_LEADER,
    PROTECTED_USERS,
    PROTECTED_MEETINGS,
    VERIFICATION_ALERTS,
    CANDIDATE_CONTEXT,
    INTEGRATION_STATE,
    DEAD_LETTER,
)


def topic_name(spec: TopicSpec, prefix: str = "") -> str:
    """Return the topic's name on the cluster, with the installation's prefix."""
    return f"{prefix}{spec.name}"
