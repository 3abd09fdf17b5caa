"""Cross-field rules, declared once and enforced twice: by the models and by the API server.

A `Rule` carries a CEL expression (emitted into the CRD as `x-kubernetes-validations`) and the
same condition as a Python predicate (run by the pydantic model), with one message. Both
sides read the same declaration, so the message a user sees from `kubectl apply` and from
`djangostack render` is identical. Unit tests feed every invalid example to the model, and
the cluster tests feed them to the real API server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import AfterValidator, BaseModel, Field, model_validator
from pydantic.config import JsonDict


@dataclass(frozen=True)
class Rule:
    """One cross-field rule of a model.

    `check(model)` is True when the model is valid. `field` is the child field the message
    is about (CEL `fieldPath`), relative to the model; empty for the model itself.
    `transition` rules compare with the stored object (`oldSelf`) and are only enforced by
    the API server, where an old object exists.
    """

    cel: str
    message: str
    check: Callable[[Any], bool] | None = None
    field: str = ""
    transition: bool = False

    def as_crd(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"rule": self.cel, "message": self.message}
        if self.field:
            entry["fieldPath"] = f".{self.field}"
        return entry


def rules_of(model: type[BaseModel]) -> tuple[Rule, ...]:
    rules: tuple[Rule, ...] = getattr(model, "__rules__", ())
    return rules


class RuleError(ValueError):
    """Raised by a model whose rule failed; `field` is the alias path below the model."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class RuledModel(BaseModel):
    """Base for models that declare `__rules__`; runs every non-transition rule on validation."""

    __rules__: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _check_rules(self) -> Any:
        for rule in type(self).__rules__:
            if rule.check is not None and not rule.check(self):
                raise RuleError(rule.field, rule.message)
        return self


def field_rule(cel: str, message: str, check: Callable[[Any], bool]) -> tuple[Any, ...]:
    """Annotated metadata for a rule on one value: `Annotated[str, *field_rule(...)]`.

    In CEL `self` is the value itself. Unlike model rules, a field rule is reported together
    with the other field errors.
    """
    return field_rules((cel, message, check))


def field_rules(*rules: tuple[str, str, Callable[[Any], bool]]) -> tuple[Any, ...]:
    """Several rules on one value, in order (one Field: a second would replace the first's
    CRD validations)."""

    def validator(message: str, check: Callable[[Any], bool]) -> AfterValidator:
        def validate(value: Any) -> Any:
            if not check(value):
                raise RuleError("", message)
            return value

        return AfterValidator(validate)

    crd: JsonDict = {
        "x-kubernetes-validations": [{"rule": cel, "message": message} for cel, message, _ in rules]
    }
    return (
        *(validator(message, check) for _, message, check in rules),
        Field(json_schema_extra=crd),
    )
