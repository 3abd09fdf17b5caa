"""The verdicts of tests/child_api_cases.py, checked against the real API server.

Each value goes, by a server-side dry run, into the child object the operator would put it
in: a CronJob's schedule and time zone, a ResourceQuota's quantities (the API server answers
with the canonical form it stores), an Ingress host, a container's fieldRef and secretKeyRef,
a Service name, annotation keys, a container image. The unit tests hold the models to the
same verdicts, so the models and the child APIs cannot drift apart unnoticed.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests import child_api_cases as cases

PAUSE = "registry.example.com/pause:3.10"


def accepted(create: Any, namespace: str, body: dict[str, Any]) -> Any:
    """The dry-run answer, or None when the API server refused the object."""
    try:
        return create(namespace, body, dry_run="All")
    except ApiException as error:
        assert error.status in (400, 422), error.body
        return None


def cronjob(schedule: str = "0 3 * * *", zone: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedule": schedule,
        "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": PAUSE}],
        }}}},
    }  # fmt: skip
    if zone is not None:
        spec["timeZone"] = zone
    return {"metadata": {"name": "probe"}, "spec": spec}


def pod(container: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "probe"}, "spec": {"containers": [{"name": "c", **container}]}}


def ingress(host: str) -> dict[str, Any]:
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    return {"metadata": {"name": "probe"},
            "spec": {"rules": [{"host": host, "http": {"paths": [path]}}]}}  # fmt: skip


@pytest.mark.parametrize(
    ("schedule", "verdict"),
    [(s, True) for s in cases.SCHEDULES_ACCEPTED + cases.SCHEDULES_MODELS_REFUSE]
    + [(s, False) for s in cases.SCHEDULES_REFUSED],
)
def test_cronjob_schedules(
    batch: client.BatchV1Api, module_namespace: str, schedule: str, verdict: bool
) -> None:
    answer = accepted(batch.create_namespaced_cron_job, module_namespace, cronjob(schedule))
    assert (answer is not None) == verdict


@pytest.mark.parametrize(
    ("zone", "verdict"),
    [(z, True) for z in cases.TIME_ZONES_ACCEPTED] + [(z, False) for z in cases.TIME_ZONES_REFUSED],
)
def test_cronjob_time_zones(
    batch: client.BatchV1Api, module_namespace: str, zone: str, verdict: bool
) -> None:
    body = cronjob(zone=zone)
    assert (accepted(batch.create_namespaced_cron_job, module_namespace, body) is not None) == (
        verdict
    )


@pytest.mark.parametrize(("written", "stored"), cases.QUANTITIES.items())
def test_quantities_come_back_in_the_canonical_form_the_models_write(
    core: client.CoreV1Api, module_namespace: str, written: str, stored: str
) -> None:
    resources = {"requests": {"cpu": written, "memory": written}}
    body = pod({"image": PAUSE, "resources": resources})
    answer = accepted(core.create_namespaced_pod, module_namespace, body)
    assert answer is not None
    assert answer.spec.containers[0].resources.requests == {"cpu": stored, "memory": stored}


@pytest.mark.parametrize("written", cases.QUANTITIES_MODELS_REFUSE)
def test_quantities_only_the_models_refuse_are_taken_by_the_pod_api(
    core: client.CoreV1Api, module_namespace: str, written: str
) -> None:
    body = pod({"image": PAUSE, "resources": {"requests": {"cpu": written}}})
    assert accepted(core.create_namespaced_pod, module_namespace, body) is not None


@pytest.mark.parametrize("written", cases.QUANTITIES_REFUSED)
def test_malformed_and_negative_quantities_are_refused(
    core: client.CoreV1Api, module_namespace: str, written: str
) -> None:
    body = pod({"image": PAUSE, "resources": {"requests": {"cpu": written}}})
    assert accepted(core.create_namespaced_pod, module_namespace, body) is None


@pytest.mark.parametrize(
    ("host", "verdict"),
    [(h, True) for h in cases.HOSTS_ACCEPTED + cases.HOSTS_MODELS_REFUSE]
    + [(h, False) for h in cases.HOSTS_REFUSED],
)
def test_ingress_hosts(
    api_client: client.ApiClient, module_namespace: str, host: str, verdict: bool
) -> None:
    networking = client.NetworkingV1Api(api_client)
    answer = accepted(networking.create_namespaced_ingress, module_namespace, ingress(host))
    assert (answer is not None) == verdict


@pytest.mark.parametrize(
    ("path", "verdict"),
    [(p, True) for p in cases.FIELD_PATHS_ACCEPTED]
    + [(p, False) for p in cases.FIELD_PATHS_REFUSED],
)
def test_env_field_paths(
    core: client.CoreV1Api, module_namespace: str, path: str, verdict: bool
) -> None:
    env = [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": path}}}]
    answer = accepted(
        core.create_namespaced_pod, module_namespace, pod({"image": PAUSE, "env": env})
    )
    assert (answer is not None) == verdict


@pytest.mark.parametrize("key", cases.CONFIG_KEYS_REFUSED)
def test_secret_keys(core: client.CoreV1Api, module_namespace: str, key: str) -> None:
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": key}}}]
    body = pod({"image": PAUSE, "env": env})
    assert accepted(core.create_namespaced_pod, module_namespace, body) is None


@pytest.mark.parametrize("stack", cases.STACK_NAMES_REFUSED)
def test_services_cannot_carry_the_names_of_refused_stack_names(
    core: client.CoreV1Api, module_namespace: str, stack: str
) -> None:
    body = {"metadata": {"name": f"{stack}-web"}, "spec": {"ports": [{"port": 80}]}}
    assert accepted(core.create_namespaced_service, module_namespace, body) is None


@pytest.mark.parametrize(
    ("key", "verdict"),
    [(k, True) for k in cases.ANNOTATION_KEYS_ACCEPTED]
    + [(k, False) for k in cases.ANNOTATION_KEYS_REFUSED],
)
def test_annotation_keys(
    core: client.CoreV1Api, module_namespace: str, key: str, verdict: bool
) -> None:
    body = {"metadata": {"name": "probe", "annotations": {key: "v"}}}
    answer = accepted(core.create_namespaced_config_map, module_namespace, body)
    assert (answer is not None) == verdict


@pytest.mark.parametrize(
    ("image", "verdict"),
    [(i, True) for i in cases.IMAGES_MODELS_REFUSE] + [(i, False) for i in cases.IMAGES_REFUSED],
)
def test_images_the_pod_api_checks_only_for_whitespace(
    core: client.CoreV1Api, module_namespace: str, image: str, verdict: bool
) -> None:
    answer = accepted(core.create_namespaced_pod, module_namespace, pod({"image": image}))
    assert (answer is not None) == verdict
