"""The models against the child APIs' verdicts (tests/child_api_cases.py): what a child's API
would refuse, the models refuse first, naming the field; what it takes, they take."""

from __future__ import annotations

from typing import Any

import pytest

from djangostack_operator import quantity
from djangostack_operator.validation import InvalidStackError
from tests import child_api_cases as cases
from tests.factories import make_stack


def refusal(**spec: Any) -> list[str]:
    with pytest.raises(InvalidStackError) as refused:
        make_stack(**spec)
    return refused.value.problems


def refused_name(name: str) -> list[str]:
    with pytest.raises(InvalidStackError) as refused:
        make_stack(name=name)
    return refused.value.problems


@pytest.mark.parametrize("schedule", cases.SCHEDULES_ACCEPTED)
def test_schedules_the_cronjob_api_takes_are_taken(schedule: str) -> None:
    assert make_stack(backup={"schedule": schedule}).spec.backup.schedule == schedule


@pytest.mark.parametrize("schedule", cases.SCHEDULES_REFUSED + cases.SCHEDULES_MODELS_REFUSE)
def test_schedules_the_cronjob_api_refuses_are_refused_by_name(schedule: str) -> None:
    [problem] = refusal(backup={"schedule": schedule})
    assert problem.startswith("spec.backup.schedule: ")


def test_a_refused_schedule_says_which_cron_field_is_wrong() -> None:
    assert refusal(backup={"schedule": "0 3 * * 7"}) == [
        "spec.backup.schedule: must be a cron schedule the CronJob API accepts:"
        " day of week field '7': 7 is outside 0-6"
    ]


@pytest.mark.parametrize("zone", cases.TIME_ZONES_ACCEPTED)
def test_time_zones_the_cronjob_api_takes_are_taken(zone: str) -> None:
    assert make_stack(backup={"timeZone": zone}).spec.backup.time_zone == zone


@pytest.mark.parametrize("zone", [*cases.TIME_ZONES_REFUSED, ""])
def test_unknown_time_zones_are_refused_by_name(zone: str) -> None:
    [problem] = refusal(backup={"timeZone": zone})
    assert problem.startswith("spec.backup.timeZone: ")


@pytest.mark.parametrize(("written", "stored"), cases.QUANTITIES.items())
def test_quantities_are_kept_in_the_api_servers_canonical_form(written: str, stored: str) -> None:
    assert quantity.canonical(written) == stored
    stack = make_stack(web={"resources": {"requests": {"cpu": written}, "limits": {}}})
    assert stack.spec.web.resources.requests.cpu == stored


@pytest.mark.parametrize("written", cases.QUANTITIES_REFUSED + cases.QUANTITIES_MODELS_REFUSE)
def test_malformed_or_negative_quantities_are_refused_by_name(written: str) -> None:
    [problem] = refusal(database={"managed": {"storage": written}})
    assert problem.startswith("spec.database.managed.storage: ")


@pytest.mark.parametrize("field", ["database.managed", "redis.managed", "backup"])
def test_a_volume_of_size_zero_is_refused(field: str) -> None:
    outer, _, inner = field.partition(".")
    spec: dict[str, Any] = {outer: {inner: {"storage": "0"}} if inner else {"storage": "0"}}
    assert refusal(**spec) == [f"spec.{field}.storage: must be greater than zero"]


@pytest.mark.parametrize(
    ("requests", "limits", "field"),
    [
        ({"cpu": "2"}, {"cpu": "1500m"}, "cpu"),
        ({"memory": "2Gi"}, {"memory": "1024Mi"}, "memory"),
        ({"memory": "1.5Gi"}, {"memory": "1536Mi"}, None),
        ({"cpu": "1"}, {"cpu": "1000m"}, None),
    ],
)
def test_requests_above_limits_are_refused_equal_values_in_other_units_taken(
    requests: dict[str, str], limits: dict[str, str], field: str | None
) -> None:
    resources = {"requests": requests, "limits": limits}
    for tier in ("web", "beat"):
        if field is None:
            make_stack(**{tier: {"resources": resources}})
            continue
        assert refusal(**{tier: {"resources": resources}}) == [
            f"spec.{tier}.resources.requests.{field}: requests.{field} must be <= limits.{field}"
        ]


@pytest.mark.parametrize("host", cases.HOSTS_ACCEPTED)
def test_hosts_the_ingress_api_takes_are_taken(host: str) -> None:
    stack = make_stack(ingress={"host": host})
    assert stack.spec.ingress is not None and stack.spec.ingress.host == host


@pytest.mark.parametrize("host", [*cases.HOSTS_REFUSED, *cases.HOSTS_MODELS_REFUSE])
def test_ip_addresses_and_malformed_hosts_are_refused_by_name(host: str) -> None:
    problems = refusal(ingress={"host": host})
    assert problems and all(p.startswith("spec.ingress.host: ") for p in problems)


def env_from_field(path: str) -> dict[str, Any]:
    return {"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": path}}}]}


@pytest.mark.parametrize("path", cases.FIELD_PATHS_ACCEPTED)
def test_field_paths_the_pod_api_takes_are_taken(path: str) -> None:
    make_stack(**env_from_field(path))


@pytest.mark.parametrize("path", cases.FIELD_PATHS_REFUSED)
def test_field_paths_the_pod_api_refuses_are_refused_by_name(path: str) -> None:
    [problem] = refusal(**env_from_field(path))
    assert problem.startswith("spec.env[0].valueFrom.fieldRef.fieldPath: ")


@pytest.mark.parametrize("name", cases.STACK_NAMES_REFUSED)
def test_stack_names_a_service_cannot_carry_are_refused(name: str) -> None:
    [problem] = refused_name(name)
    assert problem.startswith("metadata.name: ")


@pytest.mark.parametrize("name", ["shop-worker-x", "shop-worker", "a-worker-b-c"])
def test_stack_names_that_could_collide_with_a_pool_deployment_are_refused(name: str) -> None:
    assert refused_name(name) == [
        "metadata.name: must be a DNS label of at most 40 characters that starts with a letter"
        " and does not hold or end in -worker (names of the stack's objects are derived from it)"
    ]


@pytest.mark.parametrize("name", ["shop", "workers", "shop-workers", "s1", "worker"])
def test_other_stack_names_are_taken(name: str) -> None:
    assert make_stack(name=name).name == name


@pytest.mark.parametrize("key", cases.ANNOTATION_KEYS_ACCEPTED)
def test_annotation_keys_the_api_takes_are_taken(key: str) -> None:
    make_stack(podAnnotations={key: "v"}, ingress={"annotations": {key: "v"}})


@pytest.mark.parametrize("key", [*cases.ANNOTATION_KEYS_REFUSED, "djangostack.io/applied"])
def test_bad_or_reserved_annotation_keys_are_refused_by_name(key: str) -> None:
    assert [p.split(":")[0] for p in refusal(podAnnotations={key: "v"})] == ["spec.podAnnotations"]
    assert [p.split(":")[0] for p in refusal(ingress={"annotations": {key: "v"}})] == [
        "spec.ingress.annotations"
    ]


@pytest.mark.parametrize("key", cases.CONFIG_KEYS_REFUSED)
def test_secret_keys_the_pod_api_refuses_are_refused_by_name(key: str) -> None:
    [problem] = refusal(secretKeyRef={"name": "django", "key": key})
    assert problem.startswith("spec.secretKeyRef.key: ")


@pytest.mark.parametrize("image", [*cases.IMAGES_REFUSED, *cases.IMAGES_MODELS_REFUSE])
def test_images_no_runtime_can_pull_are_refused_by_name(image: str) -> None:
    problems = refusal(image=image)
    assert problems and all(p.startswith("spec.image: ") for p in problems)


@pytest.mark.parametrize(
    "image",
    [
        "shop:1.0",
        "registry.example.com:5000/team/shop:2024.06.01-rc_1",
        "ghcr.io/djangostack/example-app:0.2.0",
        "shop@sha256:" + "a" * 64,
        "localhost/shop:1",
    ],
)
def test_ordinary_image_references_are_taken(image: str) -> None:
    assert make_stack(image=image).spec.image == image


@pytest.mark.parametrize(
    ("field", "value"),
    [("web.replicas", "2"), ("web.replicas", 2.0), ("web.port", "8000"), ("beat.enabled", "true"),
     ("backup.retain", True), ("migrations.backupBefore", 1)],
)  # fmt: skip
def test_values_of_the_wrong_type_are_refused_not_coerced(field: str, value: Any) -> None:
    outer, inner = field.split(".")
    [problem] = refusal(**{outer: {inner: value}})
    assert problem.startswith(f"spec.{field}: must be ")


def test_restore_without_the_backup_volume_is_refused() -> None:
    assert refusal(
        database={"managed": {}, "restoreFrom": "latest"}, backup={"enabled": False}
    ) == ["spec.database.restoreFrom: restoreFrom reads the backup volume: it needs backup.enabled"]
