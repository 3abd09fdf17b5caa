"""Strict JSON schemas for kubeconform, made offline.

kubeconform downloads its schemas from a registry by default; here none is reachable, so they
are made from what the project already has: the OpenAPI document of the Kubernetes release
the local cluster runs (every built-in kind) and the DjangoStack CRD generated from the models.

One file per kind, `<kind>-<group>-<version>.json` (lower case, the group's first label, `v1`
alone for the core group), with every `$ref` resolved in place and, as `-strict` expects, no
property an object does not declare. What a schema cannot say the same way as the API server
is relaxed, never tightened: an int-or-string takes both, a recursive type stops recursing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# kubeconform's -schema-location for the files `write_schemas` makes.
LOCATION_TEMPLATE = "{{ .ResourceKind }}{{ .KindSuffix }}.json"
PRESERVE_UNKNOWN = "x-kubernetes-preserve-unknown-fields"


def file_name(group: str, version: str, kind: str) -> str:
    """The file kubeconform's template above looks for."""
    suffix = f"-{group.split('.', maxsplit=1)[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json".lower()


def _strict(node: Any) -> Any:
    """`node` with additionalProperties false on every object that lists its properties."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _strict(value) for key, value in node.items()}
    if (
        "properties" in result
        and "additionalProperties" not in result
        and not result.get(PRESERVE_UNKNOWN)
    ):
        result["additionalProperties"] = False
    return result


def _resolve(node: Any, definitions: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """`node` with every `#/definitions/...` reference replaced by its definition."""
    if isinstance(node, list):
        return [_resolve(item, definitions, seen) for item in node]
    if not isinstance(node, dict):
        return node
    reference = node.get("$ref")
    if isinstance(reference, str):
        name = reference.removeprefix("#/definitions/")
        if name in seen:
            return {}  # a recursive type (JSONSchemaProps): anything below this depth
        return _resolve(definitions[name], definitions, (*seen, name))
    if node.get("format") == "int-or-string":
        return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    return {key: _resolve(value, definitions, seen) for key, value in node.items()}


def builtin_schemas(openapi: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """File name -> schema, for every kind of the Kubernetes OpenAPI (v2) document."""
    definitions = openapi["definitions"]
    schemas = {}
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind") or []:
            schema = _strict(_resolve(definition, definitions, (name,)))
            schemas[file_name(gvk["group"], gvk["version"], gvk["kind"])] = schema
    return schemas


def crd_schemas(crds: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """File name -> schema, for every served version of these CustomResourceDefinitions."""
    schemas = {}
    for crd in crds:
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = _strict(version["schema"]["openAPIV3Schema"])
            schemas[file_name(group, version["name"], kind)] = schema
    return schemas


def write_schemas(folder: Path, schemas: dict[str, dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas.items():
        (folder / name).write_text(json.dumps(schema))
    return folder
