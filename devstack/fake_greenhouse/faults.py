"""Fault injection: the next N matching requests fail with a chosen status or are delayed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Fault:
    """A rule that applies to the next ``count`` requests whose path starts with ``path_prefix``.

    A request it matches waits ``delay_seconds`` first, then fails with ``status`` when one is
    set (a 429 carries ``retry_after`` as ``Retry-After``) or proceeds normally otherwise.
    """

    path_prefix: str
    count: int = 1
    method: str | None = None
    status: int | None = None
    delay_seconds: float = 0.0
    retry_after: float | None = None
    body: Any = None

    @classmethod
    def from_json(cls, document: Any) -> Fault:
        """Build a fault from the admin API's JSON, raising ValueError naming a bad key."""
        if not isinstance(document, dict):
            raise ValueError("a fault is a JSON object")
        unknown = set(document) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        fault = cls(**document)
        if not isinstance(fault.path_prefix, str) or not fault.path_prefix.startswith("/"):
            raise ValueError("path_prefix must be a path starting with '/', e.g. '/v3/notes'")
        if not isinstance(fault.count, int) or fault.count < 1:
            raise ValueError("count must be a positive integer")
        if fault.status is None and not fault.delay_seconds:
            raise ValueError("give a status, a delay_seconds or both")
        if fault.status is not None and not 400 <= fault.status <= 599:
            raise ValueError("status must be an HTTP error status (400 to 599)")
        if fault.method is not None:
            fault.method = fault.method.upper()
        return fault

    def matches(self, method: str, path: str) -> bool:
        """Return whether this rule applies to ``method path``."""
        return path.startswith(self.path_prefix) and self.method in (None, method.upper())

    def to_json(self) -> dict[str, Any]:
        """Return the rule as the admin API shows it."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class FaultBook:
    """The pending faults, consumed in the order they were added. Not thread-safe by itself."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue a rule."""
        self.pending.append(fault)

    def clear(self) -> None:
        """Drop every pending rule."""
        self.pending.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """Return the first rule matching the request and count one use of it."""
        for fault in self.pending:
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count == 0:
                    self.pending.remove(fault)
                return fault
        return None
