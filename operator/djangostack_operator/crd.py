"""The DjangoStack CustomResourceDefinition, generated from the pydantic models.

pydantic's JSON Schema is turned into a Kubernetes structural schema: references inlined,
`Optional[X]` reduced to X (absent means unset), titles dropped, defaults written in full
(the API server validates a default as written, rules included, before it recurses), and
every model's `__rules__` emitted as `x-kubernetes-validations`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from djangostack_operator import spec as api
from djangostack_operator.rules import rules_of
from djangostack_operator.status_types import DjangoStackStatus

_KEEP = {
    "type",
    "description",
    "default",
    "enum",
    "format",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "pattern",
    "items",
    "properties",
    "required",
    "additionalProperties",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
}


class _CrdJsonSchema(GenerateJsonSchema):
    """Writes every default by alias (factory-made ones too) and each model's rules."""

    def encode_default(self, dft: Any) -> Any:
        return _jsonable_default(dft)

    def get_default_value(self, schema: Any) -> Any:
        # Defaults made by a factory (lists, nested models) are defaults all the same.
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()
        return super().get_default_value(schema)

    def model_schema(self, schema: Any) -> Any:
        generated = super().model_schema(schema)
        model = schema["cls"]
        rules = [rule.as_crd() for rule in rules_of(model)]
        if rules:
            generated["x-kubernetes-validations"] = rules
        return generated


def _jsonable_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list):
        return [_jsonable_default(item) for item in value]
    return value


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:
        variants = [v for v in node["anyOf"] if v.get("type") != "null"]
        if len(variants) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {node}")
        merged = {**variants[0], **{k: v for k, v in node.items() if k != "anyOf"}}
        # An Optional field's `default: null` means "absent"; drop it.
        if merged.get("default", 0) is None:
            del merged["default"]
        return _structural(merged, defs)
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEEP:
            continue
        if key == "properties":
            result[key] = {name: _structural(child, defs) for name, child in value.items()}
        elif key == "additionalProperties":
            # `false` (extra="forbid") is implied by structural pruning and not allowed there.
            if isinstance(value, dict):
                result[key] = _structural(value, defs)
        elif key in ("items",):
            result[key] = _structural(value, defs)
        elif key == "description":
            # A docstring's line breaks are layout, not meaning.
            result[key] = " ".join(value.split())
        else:
            result[key] = value
    if "properties" in result or "additionalProperties" in result:
        result.setdefault("type", "object")
    # Description and type first: the order `kubectl explain` readers and diff readers expect.
    return {key: result[key] for key in sorted(result, key=_key_order)}


def _key_order(key: str) -> tuple[int, str]:
    leading = ("description", "type")
    return (leading.index(key), "") if key in leading else (len(leading), key)


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of one model."""
    raw = model.model_json_schema(by_alias=True, schema_generator=_CrdJsonSchema)
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _structural(raw, defs)
    return schema


# The kubectl category of the CRD (`kubectl get djangostack`).
CATEGORY = "djangostack"


def _ready_column() -> str:
    return '.status.conditions[?(@.type=="Ready")].status'


def build_crd() -> dict[str, Any]:
    """The complete CustomResourceDefinition object."""
    spec_schema = openapi_schema(api.DjangoStackSpec)
    status_schema = openapi_schema(DjangoStackStatus)
    root_rules = [
        {
            "rule": f"self.metadata.name.size() <= {api.MAX_STACK_NAME}"
            f" && self.metadata.name.matches(r'{api.STACK_NAME}')"
            f" && !self.metadata.name.contains('{api.RESERVED_INFIX}-')"
            f" && !self.metadata.name.endsWith('{api.RESERVED_INFIX}')",
            "message": f"metadata.name must be {api.STACK_NAME_RULE}",
        }
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{api.PLURAL}.{api.GROUP}",
            "labels": {"app.kubernetes.io/name": "djangostack-operator"},
        },
        "spec": {
            "group": api.GROUP,
            "names": {
                "kind": api.KIND,
                "listKind": f"{api.KIND}List",
                "plural": api.PLURAL,
                "singular": api.KIND.lower(),
                "shortNames": ["djs", "dstack"],
                # Not "all": `kubectl delete all --all` must not delete stacks (and, under
                # deletionPolicy Delete, their data). `kubectl get djangostack` lists them.
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": api.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Ready", "type": "string", "jsonPath": _ready_column()},
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {"name": "Image", "type": "string", "jsonPath": ".status.releasedImage"},
                        {"name": "URL", "type": "string", "jsonPath": ".status.url"},
                        {
                            "name": "Last backup",
                            "type": "date",
                            "jsonPath": ".status.lastBackup.time",
                        },
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A whole production Django stack: gunicorn web tier,"
                            " Celery workers and beat, PostgreSQL, Redis, migrations that gate"
                            " every release, an Ingress with TLS and scheduled backups.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                            "x-kubernetes-validations": root_rules,
                        }
                    },
                }
            ],
        },
    }
