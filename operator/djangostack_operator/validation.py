"""Turn a raw DjangoStack object into the typed model, or into messages that name each bad field.

Messages read like the API server's: `spec.web.replicas: must be >= 0`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from djangostack_operator.rules import RuleError
from djangostack_operator.spec import DjangoStack


class InvalidStackError(ValueError):
    """The object is not a valid DjangoStack; `problems` has one "path: message" per error."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def parse_stack(obj: Any) -> DjangoStack:
    if not isinstance(obj, dict):
        raise InvalidStackError(["(document): must be a DjangoStack object"])
    try:
        return DjangoStack.model_validate(obj)
    except ValidationError as error:
        raise InvalidStackError([describe(detail) for detail in error.errors()]) from None


def field_path(location: Sequence[int | str]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "(document)"


def describe(detail: ErrorDetails) -> str:
    location: list[int | str] = list(detail["loc"])
    context: dict[str, Any] = dict(detail.get("ctx") or {})
    cause = context.get("error")
    if isinstance(cause, RuleError):
        if cause.field:
            location.append(cause.field)
        return f"{field_path(location)}: {cause.message}"
    return f"{field_path(location)}: {_message(detail['type'], context, detail['msg'])}"


def _message(kind: str, ctx: dict[str, Any], fallback: str) -> str:
    simple = {
        "missing": "required",
        "extra_forbidden": "unknown field",
        "int_type": "must be an integer",
        "int_parsing": "must be an integer",
        "int_from_float": "must be an integer",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "string_type": "must be a string",
        "list_type": "must be a list",
        "dict_type": "must be an object",
        "model_type": "must be an object",
        "model_attributes_type": "must be an object",
    }
    if kind in simple:
        return simple[kind]
    bounds = {
        "greater_than_equal": ("must be >= {}", "ge"),
        "greater_than": ("must be > {}", "gt"),
        "less_than_equal": ("must be <= {}", "le"),
        "less_than": ("must be < {}", "lt"),
        "string_too_long": ("must be at most {} characters", "max_length"),
        "string_too_short": ("must be at least {} characters", "min_length"),
        "too_long": ("must have at most {} items", "max_length"),
        "too_short": ("must have at least {} item(s)", "min_length"),
        "string_pattern_mismatch": ("must match the pattern {}", "pattern"),
        "literal_error": ("must be one of {}", "expected"),
    }
    if kind in bounds:
        template, key = bounds[kind]
        return template.format(ctx.get(key))
    return fallback
