"""The shipped JSON Schemas, compiled once with fastjsonschema.

>>> validate_event({"event_id": "e1", "ts": 1772366400, "account_id": "a",
...                 "model": "m", "input_tokens": 1, "output_tokens": 2})["account_id"]
'a'
>>> validate_event({"event_id": "e1", "ts": "yesterday", "account_id": "a",
...                 "model": "m", "input_tokens": 1, "output_tokens": 2})
Traceback (most recent call last):
...
stream_guard.contracts.schemas.ContractError: data.ts cannot be validated by any definition
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Callable

import fastjsonschema

__all__ = ["ContractError", "load_schema", "validate_alert", "validate_event"]


class ContractError(ValueError):
    """A value does not follow its contract; the message says which field and why."""


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema ``name`` (``request_event`` or ``alert``) as shipped in the package."""
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _compiled(name: str) -> Callable[[Any], Any]:
    return fastjsonschema.compile(load_schema(name))  # type: ignore[no-any-return]  # untyped lib


def _validate(name: str, value: Any) -> Any:
    try:
        return _compiled(name)(value)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise ContractError(exc.message) from None


def validate_event(value: Any) -> dict[str, Any]:
    """Return ``value`` if it is a valid request event, else raise :class:`ContractError`."""
    result: dict[str, Any] = _validate("request_event", value)
    return result


def validate_alert(value: Any) -> dict[str, Any]:
    """Return ``value`` if it is a valid alert, else raise :class:`ContractError`."""
    result: dict[str, Any] = _validate("alert", value)
    return result
