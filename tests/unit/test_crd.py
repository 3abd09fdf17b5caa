"""The CRD: generated from the models, structural, documented; the committed copy is current."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from djangostack_operator import apidoc, yamlio
from djangostack_operator.crd import build_crd
from djangostack_operator.rules import rules_of
from djangostack_operator.spec import DatabaseSpec, DjangoStackSpec, ManagedDatabase
from tests.factories import REPO


def version() -> dict[str, Any]:
    result: dict[str, Any] = build_crd()["spec"]["versions"][0]
    return result


def spec_schema() -> dict[str, Any]:
    result: dict[str, Any] = version()["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return result


def walk(schema: dict[str, Any], path: str = "spec") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


def test_committed_crd_is_the_generated_one() -> None:
    committed = (REPO / "crds" / "djangostacks.yaml").read_text()
    assert committed == yamlio.dump(build_crd()), "run `make crd` to regenerate crds/"


def test_crd_identity_names_and_status_subresource() -> None:
    crd = build_crd()
    assert crd["metadata"]["name"] == "djangostacks.djangostack.io"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["shortNames"] == ["djs", "dstack"]
    assert crd["spec"]["names"]["plural"] == "djangostacks"
    assert version()["name"] == "v1alpha1"
    assert version()["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    columns = {c["name"]: c["jsonPath"] for c in version()["additionalPrinterColumns"]}
    assert columns == {
        "Ready": '.status.conditions[?(@.type=="Ready")].status',
        "Phase": ".status.phase",
        "Image": ".status.releasedImage",
        "URL": ".status.url",
        "Last backup": ".status.lastBackup.time",
        "Age": ".metadata.creationTimestamp",
    }


def test_schema_is_structural() -> None:
    for path, node in walk(spec_schema()):
        assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
        assert node.get("additionalProperties") is not False, path
        assert "type" in node, f"{path} has no type"


def test_every_field_has_a_description() -> None:
    status = version()["schema"]["openAPIV3Schema"]["properties"]["status"]
    for path, node in [*walk(spec_schema()), *walk(status, "status")]:
        if path.endswith("[]") or path.endswith("{}"):
            continue
        assert node.get("description"), f"{path} has no description"
        assert "\n" not in node["description"], f"{path}: a description is one paragraph"


def test_stacks_are_not_in_the_all_category() -> None:
    # `kubectl delete all --all` must not delete stacks (and under deletionPolicy Delete
    # their data); they have a category of their own.
    assert build_crd()["spec"]["names"]["categories"] == ["djangostack"]


def test_defaults_bounds_and_enums_come_from_the_models() -> None:
    schema = spec_schema()["properties"]
    assert schema["web"]["properties"]["replicas"] == {
        "description": schema["web"]["properties"]["replicas"]["description"],
        "type": "integer",
        "default": 2,
        "maximum": 1000,
        "minimum": 0,
    }
    assert schema["deletionPolicy"]["enum"] == ["Retain", "Delete"]
    assert schema["deletionPolicy"]["default"] == "Retain"
    assert schema["workers"]["default"][0]["name"] == "default"
    assert schema["workers"]["x-kubernetes-list-type"] == "map"
    assert schema["workers"]["x-kubernetes-list-map-keys"] == ["name"]
    assert schema["database"]["default"]["managed"]["storage"] == "10Gi"
    assert "default" not in schema["ingress"]
    assert spec_schema()["required"] == ["image"]


def test_every_model_rule_is_in_the_crd() -> None:
    rules_in_crd = {
        rule["rule"]
        for _, node in walk(spec_schema())
        for rule in node.get("x-kubernetes-validations", [])
    }
    for model in (DjangoStackSpec, DatabaseSpec, ManagedDatabase):
        for rule in rules_of(model):
            assert rule.cel in rules_in_crd, rule.message


def test_immutable_fields_have_transition_rules() -> None:
    managed = spec_schema()["properties"]["database"]["properties"]["managed"]
    transition = [r for r in managed["x-kubernetes-validations"] if "oldSelf" in r["rule"]]
    assert {r["fieldPath"] for r in transition} == {
        ".storage",
        ".storageClassName",
        ".databaseName",
    }


def test_stack_name_length_is_enforced_at_the_root() -> None:
    root = version()["schema"]["openAPIV3Schema"]
    assert "self.metadata.name.size() <= 40" in root["x-kubernetes-validations"][0]["rule"]


def test_crd_yaml_has_no_anchors() -> None:
    text = yamlio.dump(build_crd())
    assert "&id" not in text and "*id" not in text
    assert yaml.safe_load(text) == build_crd()


def test_api_docs_field_reference_is_current() -> None:
    document = (REPO / "docs" / "api.md").read_text()
    assert apidoc.BEGIN in document and apidoc.END in document
    assert apidoc.splice(document) == document, "run `make docs` to regenerate docs/api.md"
    assert "| `spec.web.replicas` | integer | `2` |" in document


def test_every_rule_of_a_value_with_several_reaches_the_crd() -> None:
    crd = build_crd()
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    host = spec["properties"]["ingress"]["properties"]["host"]
    messages = [rule["message"] for rule in host["x-kubernetes-validations"]]
    assert messages == [
        "must be a lowercase DNS name such as shop.example.com",
        "must be a DNS name, not an IP address (the Ingress API refuses IPs as hosts)",
    ]
