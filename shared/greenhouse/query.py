"""Query parameters for Harvest V3 list endpoints, spelt the way Greenhouse expects them.

Pure functions: no HTTP here. Greenhouse's rules for a first-page request:

- ``per_page`` from 1 to 500;
- ``ids`` and parent filters (``candidate_ids``, ``job_ids``, ...) are comma-separated and
  carry at most 50 values;
- date filters are operator-prefixed and pipe-delimited, two bounds chained in one value:
  ``updated_at=gte|2026-01-01T00:00:00.000Z|lte|2026-01-02T00:00:00.000Z``.

A request that carries ``cursor`` must carry nothing else; the client follows ``Link`` URLs
verbatim and never calls these functions for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.events import isoformat

MAX_PER_PAGE = 500
MAX_IDS_PER_FILTER = 50

_RESOURCE_PATTERN = re.compile(r"^[a-z][a-z_]*$")


def validate_resource(resource: str) -> str:
    """Return the resource name, or raise ValueError if it is not a v3 path segment."""
    if not _RESOURCE_PATTERN.fullmatch(resource):
        raise ValueError(
            f"invalid Harvest resource {resource!r}: expected a v3 path segment such as "
            "'candidates' or 'job_interviews'"
        )
    return resource


def render_date_range(start: datetime | None, end: datetime | None) -> str:
    """Render an inclusive time window as ``gte|<start>|lte|<end>``; either bound may be None."""
    parts: list[str] = []
    if start is not None:
        parts += ["gte", isoformat(start)]
    if end is not None:
        parts += ["lte", isoformat(end)]
    if not parts:
        raise ValueError("a date range needs a start, an end or both")
    return "|".join(parts)


def render_ids(name: str, values: Iterable[int | str]) -> str:
    """Join ids with commas, raising ValueError past Greenhouse's cap of 50 per filter."""
    rendered = [str(value) for value in values]
    if not rendered:
        raise ValueError(f"filter {name!r} has no values; leave it out to match everything")
    if len(rendered) > MAX_IDS_PER_FILTER:
        raise ValueError(
            f"filter {name!r} has {len(rendered)} values, Greenhouse accepts at most "
            f"{MAX_IDS_PER_FILTER}; use get_by_ids, which splits them into batches"
        )
    return ",".join(rendered)


def render_value(name: str, value: Any) -> str:
    """Render one filter value as Greenhouse spells it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return render_date_range(value, None)
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and all(item is None or isinstance(item, datetime) for item in value)
    ):
        return render_date_range(value[0], value[1])
    if isinstance(value, list | tuple | set | frozenset):
        return render_ids(name, sorted(value) if isinstance(value, set | frozenset) else value)
    return str(value)


def build_params(filters: Mapping[str, Any], *, per_page: int = MAX_PER_PAGE) -> dict[str, str]:
    """Build the query parameters of a first-page request; None values are left out."""
    if "cursor" in filters:
        raise ValueError("pass no 'cursor' filter: the client follows the Link header itself")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}")
    params = {"per_page": str(per_page)}
    for name, value in filters.items():
        if value is not None:
            params[name] = render_value(name, value)
    return params


def batched(values: Sequence[int], size: int = MAX_IDS_PER_FILTER) -> Iterator[Sequence[int]]:
    """Yield consecutive slices of at most ``size`` values."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
