"""The local control plane is a real Kubernetes: controllers, scheduler, admission, CEL, GC.

Each test exercises one piece that later tests of the operator rely on.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.kube_helpers import namespace_body, wait_for, wait_gone

FAIL_LABEL = "pod-container-running-failed.stage.kwok.x-k8s.io"


def restricted_container(name: str = "app") -> dict[str, Any]:
    return {
        "name": name,
        "image": "registry.example.com/app:1.0",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def job_body(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels or {}},
                "spec": {"restartPolicy": "Never", "containers": [restricted_container()]},
            },
        },
    }


def test_deployment_becomes_available_with_ready_pods(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [restricted_container()]},
                },
            },
        },
    )

    def available() -> client.V1Deployment | None:
        deployment = apps.read_namespaced_deployment("web", namespace)
        conditions = {c.type: c.status for c in deployment.status.conditions or []}
        return deployment if conditions.get("Available") == "True" else None

    deployment = wait_for("Deployment web Available", available)
    assert deployment.status.ready_replicas == 3
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 3
    for pod in pods:
        assert pod.status.phase == "Running"
        assert pod.spec.node_name == "kwok-node-0"
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"


def test_job_completes(batch: client.BatchV1Api, namespace: str) -> None:
    batch.create_namespaced_job(namespace, job_body("migrate"))

    def complete() -> bool:
        job = batch.read_namespaced_job_status("migrate", namespace)
        return (job.status.succeeded or 0) == 1

    wait_for("Job migrate to succeed", complete)
    conditions = {
        c.type: c.status for c in batch.read_namespaced_job("migrate", namespace).status.conditions
    }
    assert conditions["Complete"] == "True"


def test_statefulset_with_volume_claims_reports_ready_replicas(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    labels = {"app": "db"}
    apps.create_namespaced_stateful_set(
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [restricted_container()]},
                },
            },
        },
    )
    wait_for(
        "StatefulSet db to report 2 ready replicas",
        lambda: (
            apps.read_namespaced_stateful_set_status("db", namespace).status.ready_replicas == 2
        ),
    )


def test_deleting_an_owner_garbage_collects_what_it_owns(
    core: client.CoreV1Api, namespace: str
) -> None:
    owner = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "owner"}, "data": {"a": "1"}}
    )
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.metadata.uid,
    }
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "owned", "ownerReferences": [reference]}}
    )
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "bystander"}})

    core.delete_namespaced_config_map("owner", namespace)

    wait_gone("owned ConfigMap", lambda: core.read_namespaced_config_map("owned", namespace))
    assert core.read_namespaced_config_map("bystander", namespace).metadata.name == "bystander"


def test_restricted_namespace_rejects_privileged_pod_and_admits_compliant_one(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.patch_namespace(
        namespace,
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
    )
    privileged = {
        "metadata": {"name": "privileged"},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/app:1.0",
                    "securityContext": {"privileged": True},
                }
            ]
        },
    }
    with pytest.raises(ApiException) as rejected:
        core.create_namespaced_pod(namespace, privileged)
    assert rejected.value.status == 403
    assert 'violates PodSecurity "restricted' in json.loads(rejected.value.body)["message"]

    compliant = {
        "metadata": {"name": "compliant"},
        "spec": {"containers": [restricted_container()]},
    }
    created = core.create_namespaced_pod(namespace, compliant)
    assert created.metadata.name == "compliant"


@pytest.fixture
def widget_crd(api_client: client.ApiClient) -> Any:
    extensions = client.ApiextensionsV1Api(api_client)
    name = "widgets.test.djangostack.io"
    extensions.create_custom_resource_definition(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {
                "group": "test.djangostack.io",
                "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
                "scope": "Namespaced",
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {
                                        "type": "object",
                                        "properties": {
                                            "min": {"type": "integer"},
                                            "max": {"type": "integer"},
                                        },
                                        "x-kubernetes-validations": [
                                            {
                                                "rule": "self.min <= self.max",
                                                "message": "min must not exceed max",
                                            }
                                        ],
                                    }
                                },
                            }
                        },
                    }
                ],
            },
        }
    )

    def established() -> bool:
        crd = extensions.read_custom_resource_definition(name)
        return any(
            c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
        )

    wait_for("CRD widgets to be established", established)
    try:
        yield
    finally:
        extensions.delete_custom_resource_definition(name)
        wait_gone("CRD widgets", lambda: extensions.read_custom_resource_definition(name))


def test_crd_validation_rule_rejects_bad_object_with_its_message(
    api_client: client.ApiClient, namespace: str, widget_crd: Any
) -> None:
    objects = client.CustomObjectsApi(api_client)

    def create(name: str, low: int, high: int) -> Any:
        body = {
            "apiVersion": "test.djangostack.io/v1",
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": {"min": low, "max": high},
        }
        return objects.create_namespaced_custom_object(
            "test.djangostack.io", "v1", namespace, "widgets", body
        )

    with pytest.raises(ApiException) as rejected:
        create("bad", 5, 1)
    assert rejected.value.status == 422
    assert "spec: Invalid value" in rejected.value.body
    assert "min must not exceed max" in rejected.value.body
    assert create("good", 1, 5)["metadata"]["name"] == "good"


def test_pod_labelled_for_failing_container_stage_makes_its_job_fail(
    batch: client.BatchV1Api, namespace: str
) -> None:
    batch.create_namespaced_job(namespace, job_body("broken", labels={FAIL_LABEL: "true"}))

    def failed() -> bool:
        job = batch.read_namespaced_job_status("broken", namespace)
        conditions = {c.type: c.status for c in job.status.conditions or []}
        return conditions.get("Failed") == "True"

    wait_for("Job broken to fail", failed)
    assert (batch.read_namespaced_job_status("broken", namespace).status.succeeded or 0) == 0


def test_namespace_deletion_completes(core: client.CoreV1Api, apps: client.AppsV1Api) -> None:
    core.create_namespace(namespace_body("doomed"))
    wait_for(
        "default ServiceAccount", lambda: core.read_namespaced_service_account("default", "doomed")
    )
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        "doomed",
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [restricted_container()]},
                },
            },
        },
    )
    wait_for("2 pods", lambda: len(core.list_namespaced_pod("doomed").items) == 2)
    core.delete_namespace("doomed")
    wait_gone("namespace doomed", lambda: core.read_namespace("doomed"), timeout=120)
