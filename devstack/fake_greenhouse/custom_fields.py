"""Custom field values: checking writes and rendering reads the way Harvest V3 does.

Writes name a field by ``name_key`` and give select values as option ids; reads show each field
as ``{"name", "type", "value"}`` with select values as option labels. A wrong type, an unknown
option id or an unknown ``name_key`` is a ``WriteError``, which the endpoints return as 422.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any


class WriteError(Exception):
    """An invalid write; ``field`` names the offending body key when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        """Return the 422 body, in the ``{message, field}`` shape Harvest's write endpoints use."""
        return {
            "message": "Validation error",
            "errors": [{"message": self.message, "field": self.field}],
        }


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_iso_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _require_keys(value: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(value, dict) or set(value) != set(keys):
        raise WriteError(f"expected an object with exactly {', '.join(keys)}", where)


def check_value(
    definition: Mapping[str, Any],
    options: Mapping[int, Mapping[str, Any]],
    user_ids: set[int],
    value: Any,
) -> Any:
    """Return ``value`` if it suits the field's ``value_type``, else raise WriteError.

    ``options`` are the field's active options by id. None clears the field.
    """
    if value is None:
        return None
    value_type = definition["value_type"]
    where = f"custom_fields.{definition['name_key']}"
    if value_type in ("short_text", "long_text", "url", "rich_text"):
        if not isinstance(value, str):
            raise WriteError(f"{value_type} values must be strings", where)
    elif value_type == "yes_no":
        if not isinstance(value, bool):
            raise WriteError("yes_no values must be true or false", where)
    elif value_type == "number":
        if not _is_number(value):
            raise WriteError("number values must be numbers", where)
    elif value_type == "date":
        if not (isinstance(value, str) and _is_iso_date(value)):
            raise WriteError("date values must be YYYY-MM-DD strings", where)
    elif value_type == "user":
        if not (isinstance(value, int) and not isinstance(value, bool) and value in user_ids):
            raise WriteError(
                f"user values must be the id of an existing user, got {value!r}", where
            )
    elif value_type == "single_select":
        _check_option(value, options, where)
    elif value_type == "multi_select":
        if not isinstance(value, list) or not value:
            raise WriteError("multi_select values must be a non-empty list of option ids", where)
        for item in value:
            _check_option(item, options, where)
    elif value_type == "currency":
        _require_keys(value, ("amount", "currency_code"), where)
    elif value_type == "currency_range":
        _require_keys(value, ("min_amount", "max_amount", "currency_code"), where)
    elif value_type == "number_range":
        _require_keys(value, ("min_value", "max_value"), where)
    else:
        raise WriteError(f"{value_type} fields cannot be written through this endpoint", where)
    return value


def _check_option(value: Any, options: Mapping[int, Mapping[str, Any]], where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WriteError(f"select values must be option ids (integers), got {value!r}", where)
    if value not in options:
        raise WriteError(f"{value} is not an active option id of this field", where)


def render_value(
    definition: Mapping[str, Any], options: Mapping[int, Mapping[str, Any]], value: Any
) -> dict[str, Any]:
    """Render a stored value as a candidate's ``custom_fields`` entry."""
    shown = value
    if value is not None and definition["value_type"] == "single_select":
        shown = options[value]["name"] if value in options else None
    elif value is not None and definition["value_type"] == "multi_select":
        shown = [options[item]["name"] for item in value if item in options]
    return {"name": definition["name"], "type": definition["value_type"], "value": shown}
