"""The generated CRD and the rendered objects, judged by the real API server.

What the models accept, the API server accepts and defaults the same way; what the models
reject, the API server rejects with a message naming the same field; every rendered object
is valid Kubernetes, and every pod template passes Pod Security "restricted".
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

from djangostack_operator.render import render
from djangostack_operator.spec import GROUP, PLURAL, VERSION
from djangostack_operator.validation import parse_stack
from tests.factories import sample, stack_object
from tests.invalid_cases import CASES, InvalidCase

pytestmark = pytest.mark.usefixtures("djangostack_crd")


def in_namespace(document: dict[str, Any], namespace: str) -> dict[str, Any]:
    document = copy.deepcopy(document)
    document["metadata"]["namespace"] = namespace
    document["metadata"].pop("uid", None)
    return document


def create_stack(
    api_client: client.ApiClient, namespace: str, body: dict[str, Any], dry_run: bool = False
) -> dict[str, Any]:
    objects = client.CustomObjectsApi(api_client)
    kwargs: dict[str, Any] = {"field_validation": "Strict"}
    if dry_run:
        kwargs["dry_run"] = "All"
    result: dict[str, Any] = objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body, **kwargs
    )
    return result


@pytest.mark.parametrize("name", ["minimal", "production"])
def test_samples_are_accepted_and_defaulted_exactly_like_the_models(
    api_client: client.ApiClient, namespace: str, name: str
) -> None:
    document = in_namespace(sample(name), namespace)
    stored = create_stack(api_client, namespace, document)
    assert parse_stack(stored).spec == parse_stack(document).spec


def test_kubectl_style_short_names_resolve(api_client: client.ApiClient) -> None:
    resources = dynamic.DynamicClient(api_client).resources
    resource = resources.get(api_version=f"{GROUP}/{VERSION}", kind="DjangoStack")
    assert set(resource.short_names) == {"djs", "dstack"}


@pytest.fixture
def priority_classes(api_client: client.ApiClient) -> Iterator[None]:
    """The PriorityClasses the production sample's placement names."""
    scheduling = client.SchedulingV1Api(api_client)
    made = []
    for name in sorted(sample_priority_classes("production")):
        scheduling.create_priority_class({"metadata": {"name": name}, "value": 1000})
        made.append(name)
    try:
        yield
    finally:
        for name in made:
            scheduling.delete_priority_class(name)


def sample_priority_classes(name: str) -> set[str]:
    spec = sample(name)["spec"]
    placements = [spec.get("placement") or {}]
    placements += [(spec.get(tier) or {}).get("placement") or {} for tier in ("web", "beat")]
    return {p["priorityClassName"] for p in placements if "priorityClassName" in p}


@pytest.mark.parametrize("name", ["minimal", "production"])
def test_every_rendered_object_is_accepted_by_server_side_dry_run(
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    pod_monitor_crd: str,
    priority_classes: None,
) -> None:
    """Every object, the PodMonitor by prometheus-operator's real CRD; every pod by Pod
    Security "restricted" admission and by the Priority admission of its placement."""
    core.patch_namespace(
        namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    resources = dynamic.DynamicClient(api_client).resources
    objects = render(parse_stack(in_namespace(sample(name), namespace)))
    for obj in objects:
        resource = resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        resource.create(body=obj, namespace=namespace, dry_run="All")
    # Workload objects are only warned about; Pods are where "restricted" is enforced.
    pods = [
        pod_from(o) for o in objects if o["kind"] in ("Deployment", "StatefulSet", "Job", "CronJob")
    ]
    assert pods
    for index, pod in enumerate(pods):
        pod["metadata"]["name"] = f"pod-{index}"
        core.create_namespaced_pod(namespace, pod, dry_run="All")


def pod_from(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod a workload controller would make; claims become volumes, as the controller does."""
    spec = workload["spec"]
    template = (
        spec["jobTemplate"]["spec"]["template"]
        if workload["kind"] == "CronJob"
        else (spec["template"])
    )
    pod = {"metadata": copy.deepcopy(template["metadata"]), "spec": copy.deepcopy(template["spec"])}
    for claim in spec.get("volumeClaimTemplates", []):
        pod["spec"]["volumes"].append(
            {"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": "x"}}
        )
    return pod


def server_message(error: ApiException) -> str:
    body = json.loads(error.body)
    return str(body.get("message", ""))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_invalid_stack_is_rejected_by_the_api_server_naming_the_field(
    api_client: client.ApiClient, module_namespace: str, case: InvalidCase
) -> None:
    body = stack_object(name=case.name, namespace=module_namespace, uid=None, **case.spec)
    with pytest.raises(ApiException) as rejected:
        create_stack(api_client, module_namespace, body, dry_run=True)
    assert rejected.value.status in (400, 422)
    message = server_message(rejected.value)
    path, fragment = case.server
    if path:
        assert f"{path}" in message, message
    assert fragment in message, message


def test_immutable_storage_class_cannot_change(
    api_client: client.ApiClient, namespace: str
) -> None:
    body = stack_object(
        namespace=namespace, uid=None, database={"managed": {"storageClassName": "a"}}
    )
    create_stack(api_client, namespace, body)
    objects = client.CustomObjectsApi(api_client)
    patch = {"spec": {"database": {"managed": {"storageClassName": "b"}}}}
    with pytest.raises(ApiException) as rejected:
        objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "shop", patch)
    assert rejected.value.status == 422
    message = server_message(rejected.value)
    assert "spec.database.managed.storageClassName" in message
    assert "storageClassName is immutable" in message
    # A change that loses nothing still goes through.
    objects.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "shop", {"spec": {"web": {"replicas": 3}}}
    )


def refused_patch(api_client: client.ApiClient, namespace: str, spec: dict[str, Any]) -> str:
    objects = client.CustomObjectsApi(api_client)
    with pytest.raises(ApiException) as rejected:
        objects.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "shop", {"spec": spec}
        )
    assert rejected.value.status == 422
    return server_message(rejected.value)


def test_the_backup_volume_cannot_change_size_or_class(
    api_client: client.ApiClient, namespace: str
) -> None:
    create_stack(api_client, namespace, stack_object(namespace=namespace, uid=None))
    message = refused_patch(api_client, namespace, {"backup": {"storage": "20Gi"}})
    assert "spec.backup.storage" in message and "storage is immutable" in message
    message = refused_patch(api_client, namespace, {"backup": {"storageClassName": "fast"}})
    assert "spec.backup.storageClassName" in message


@pytest.mark.parametrize("service", ["database", "redis"])
def test_managed_to_external_is_allowed_and_back_to_managed_is_refused(
    api_client: client.ApiClient, namespace: str, service: str
) -> None:
    create_stack(api_client, namespace, stack_object(namespace=namespace, uid=None))
    objects = client.CustomObjectsApi(api_client)
    external = {"managed": None, "external": {"urlSecretRef": {"name": f"{service}-url"}}}
    objects.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "shop", {"spec": {service: external}}
    )
    back = {"managed": {"storage": "5Gi"}, "external": None}
    message = refused_patch(api_client, namespace, {service: back})
    assert f"spec.{service}.managed" in message
    assert "cannot switch from external to managed" in message
