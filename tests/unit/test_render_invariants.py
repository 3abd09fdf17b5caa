"""Properties that hold for EVERY object rendered from both samples and a few variants."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest

from djangostack_operator import yamlio
from djangostack_operator.render import RenderContext, render
from djangostack_operator.render.meta import version_label
from djangostack_operator.render.pod import Release
from djangostack_operator.spec import DjangoStack
from djangostack_operator.validation import parse_stack
from djangostack_operator.vocabulary import VERSION
from tests.factories import UID, make_stack, sample

RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
)
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def with_uid(document: dict[str, Any]) -> DjangoStack:
    document = copy.deepcopy(document)
    document["metadata"]["uid"] = UID
    return parse_stack(document)


STACKS = {
    "minimal": with_uid(sample("minimal")),
    "production": with_uid(sample("production")),
    "external-services": make_stack(
        database={"managed": None, "external": {"urlSecretRef": {"name": "db"}}},
        redis={"managed": None, "external": {"urlSecretRef": {"name": "cache"}}},
        ingress=None,
        workers=[],
        beat={"enabled": False},
    ),
    "delete-policy": make_stack(deletionPolicy="Delete", redis={"managed": {"persistence": False}}),
}


def all_objects() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, stack in STACKS.items():
        for obj in render(stack):
            yield f"{name}:{obj['kind']}/{obj['metadata']['name']}", obj


OBJECTS = list(all_objects())
IDS = [object_id for object_id, _ in OBJECTS]


def pod_templates(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {})
    if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
        return [spec["template"]]
    if obj["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]]
    return []


def stack_of(object_id: str) -> DjangoStack:
    return STACKS[object_id.split(":", maxsplit=1)[0]]


@pytest.mark.parametrize(("object_id", "obj"), OBJECTS, ids=IDS)
def test_every_object_has_namespace_and_recommended_labels(
    object_id: str, obj: dict[str, Any]
) -> None:
    stack = stack_of(object_id)
    assert obj["metadata"]["namespace"] == stack.namespace
    labels = obj["metadata"]["labels"]
    for label in RECOMMENDED_LABELS:
        assert labels.get(label), f"{object_id} lacks {label}"
    assert labels["app.kubernetes.io/instance"] == stack.name
    assert labels["app.kubernetes.io/managed-by"] == "djangostack-operator"
    assert labels["app.kubernetes.io/part-of"] == stack.name
    assert labels["app.kubernetes.io/version"] == stack.spec.image.rsplit(":", 1)[1]


@pytest.mark.parametrize(("object_id", "obj"), OBJECTS, ids=IDS)
def test_every_object_but_a_retained_volume_is_owned_by_the_stack(
    object_id: str, obj: dict[str, Any]
) -> None:
    stack = stack_of(object_id)
    retained_volume = obj["kind"] == "PersistentVolumeClaim" and (
        stack.spec.deletion_policy == "Retain"
    )
    if retained_volume:
        assert "ownerReferences" not in obj["metadata"]
        return
    (owner,) = obj["metadata"]["ownerReferences"]
    assert owner["kind"] == "DjangoStack" and owner["name"] == stack.name
    assert owner["uid"] == UID and owner["controller"] is True


@pytest.mark.parametrize(("object_id", "obj"), OBJECTS, ids=IDS)
def test_selectors_match_their_pod_template_labels(object_id: str, obj: dict[str, Any]) -> None:
    spec = obj.get("spec", {})
    selector = spec.get("selector", {})
    if obj["kind"] in ("Deployment", "StatefulSet"):
        template_labels = spec["template"]["metadata"]["labels"]
        assert selector["matchLabels"].items() <= template_labels.items(), object_id
    if obj["kind"] == "Service" and "selector" in spec:
        # A Service's selector must pick the pods of its own component only.
        assert (
            spec["selector"]["app.kubernetes.io/component"]
            == (obj["metadata"]["labels"]["app.kubernetes.io/component"])
        )


@pytest.mark.parametrize(("object_id", "obj"), OBJECTS, ids=IDS)
def test_pods_are_pod_security_restricted(object_id: str, obj: dict[str, Any]) -> None:
    for template in pod_templates(obj):
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert "hostNetwork" not in pod and "hostPID" not in pod
        volumes = {v["name"] for v in pod["volumes"]}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, object_id
            assert context["capabilities"] == {"drop": ["ALL"]}, object_id
            assert context["readOnlyRootFilesystem"] is True, object_id
            assert context["runAsNonRoot"] is True, object_id
            assert "privileged" not in context
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            mounts = {m["name"] for m in container["volumeMounts"]}
            claims = {
                c["metadata"]["name"] for c in obj.get("spec", {}).get("volumeClaimTemplates", [])
            }
            assert mounts <= volumes | claims, object_id
            assert container["resources"].get("requests"), object_id


@pytest.mark.parametrize(("object_id", "obj"), OBJECTS, ids=IDS)
def test_no_image_uses_latest_or_no_tag(object_id: str, obj: dict[str, Any]) -> None:
    for template in pod_templates(obj):
        for container in template["spec"]["containers"]:
            image = container["image"]
            assert not image.endswith(":latest"), object_id
            assert re.search(r":[\w][\w.-]*$|@sha256:", image), object_id


SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|AUTH", re.IGNORECASE)


@pytest.mark.parametrize(("object_id", "obj"), OBJECTS, ids=IDS)
def test_secrets_reach_pods_only_through_secret_key_refs(
    object_id: str, obj: dict[str, Any]
) -> None:
    assert obj["kind"] != "Secret"
    for template in pod_templates(obj):
        for container in template["spec"]["containers"]:
            for entry in container.get("env", []):
                if SECRETISH.search(entry["name"]):
                    assert "secretKeyRef" in entry.get("valueFrom", {}), (object_id, entry)
                value = entry.get("value", "")
                # A URL may carry a password only as a $(VAR) reference.
                assert not re.search(r"://[^/@]*:[^$(][^@]*@", value), (object_id, entry)


def test_rendering_is_repeatable() -> None:
    for stack in STACKS.values():
        first = render(stack, RenderContext(config_digests={"Secret/x": "1"}))
        second = render(stack, RenderContext(config_digests={"Secret/x": "1"}))
        assert first == second
        assert yamlio.dump_all(first) == yamlio.dump_all(second)


def test_rendered_objects_are_independent_copies() -> None:
    stack = STACKS["minimal"]
    objects = render(stack)
    objects[0]["metadata"]["labels"]["mutated"] = "yes"
    (web,) = [
        o for o in objects if (o["kind"], o["metadata"]["name"]) == ("Deployment", "shop-web")
    ]
    web["spec"]["template"]["spec"]["volumes"].append({"name": "extra"})
    assert render(stack) != objects
    assert all("mutated" not in o["metadata"]["labels"] for o in render(stack))


def test_names_fit_kubernetes_limits_for_the_longest_allowed_names() -> None:
    stack = make_stack(name="s" * 40, workers=[{"name": "p" * 15}])
    for obj in render(stack):
        name = obj["metadata"]["name"]
        assert len(name) <= 63, name
        if obj["kind"] == "CronJob":
            assert len(name) <= 52, name  # Job names add an 11-character suffix
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name


def test_version_follows_the_release_each_object_belongs_to() -> None:
    stack = make_stack(image="registry.example.com/shop:2.0.0")
    old = Release("registry.example.com/shop:1.0.0", "aaaaaaaaaa")
    objects = render(stack, RenderContext(release=old))
    versions = {
        (obj["kind"], obj["metadata"]["name"]): obj["metadata"]["labels"][VERSION]
        for obj in objects
    }
    # The migrations Job belongs to the release it migrates; everything else to the serving.
    assert versions.pop(("Job", stack.names.migrations_job(stack.spec.release_hash))) == "2.0.0"
    assert set(versions.values()) == {"1.0.0"}
    for obj in objects:
        for template in pod_templates(obj):
            containers = template["spec"]["containers"]
            if containers[0]["image"].startswith("registry.example.com/shop"):
                expected = containers[0]["image"].rsplit(":", 1)[1]
                assert template["metadata"]["labels"][VERSION] == expected


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("shop:1.2.3", "1.2.3"),
        ("registry.example.com:5000/team/shop:v2", "v2"),
        ("registry.example.com:5000/shop@sha256:" + "ab" * 32, "sha256-abababababab"),
        ("shop:1.0@sha256:" + "cd" * 32, "1.0"),
        ("shop:" + "a" * 60 + "---" + "b" * 60, "a" * 60),
    ],
)
def test_version_label_is_a_valid_label_value(image: str, expected: str) -> None:
    value = version_label(image)
    assert value == expected
    assert len(value) <= 63 and LABEL_VALUE.match(value)
