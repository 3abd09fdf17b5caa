"""The models: defaults, derived names, release identity, and every invalid input named by field."""

from __future__ import annotations

import pytest

from djangostack_operator.spec import DEFAULT_POSTGRES_IMAGE, DjangoStackSpec, StackNames
from djangostack_operator.validation import InvalidStackError, parse_stack
from tests.factories import make_stack, sample, stack_object
from tests.invalid_cases import CASES, InvalidCase


def test_minimal_spec_gets_documented_defaults() -> None:
    spec = make_stack().spec
    assert spec.image_pull_policy == "IfNotPresent"
    assert spec.settings_module == "config.settings"
    assert spec.web.replicas == 2
    assert spec.web.port == 8000
    assert spec.web.autoscaling is None
    assert [(w.name, w.queues, w.concurrency, w.replicas) for w in spec.workers] == [
        ("default", ["celery"], 2, 1)
    ]
    assert spec.beat.enabled is True
    assert spec.database.managed is not None
    assert spec.database.managed.image == DEFAULT_POSTGRES_IMAGE
    assert spec.database.external is None
    assert spec.redis.managed is not None and spec.redis.managed.persistence is True
    assert spec.migrations.command == ["python", "manage.py", "migrate", "--noinput"]
    assert spec.ingress is not None and spec.ingress.tls.self_signed is True
    assert spec.backup.enabled is True and spec.backup.retain == 7
    assert spec.deletion_policy == "Retain"


def test_models_are_frozen() -> None:
    spec = make_stack().spec
    with pytest.raises(ValueError, match="frozen"):
        spec.image = "other:1.0"  # type: ignore[misc]


def test_wire_names_are_camel_case_and_round_trip() -> None:
    spec = make_stack(web={"autoscaling": {"targetCpuUtilization": 60}}).spec
    wire = spec.model_dump(by_alias=True, exclude_none=True)
    assert wire["web"]["autoscaling"]["targetCpuUtilization"] == 60
    assert "imagePullPolicy" in wire and "deletionPolicy" in wire
    assert DjangoStackSpec.model_validate(wire) == spec


def test_derived_names_live_in_one_place() -> None:
    names = StackNames("shop")
    assert (names.web, names.beat, names.postgres, names.postgres_headless) == (
        "shop-web",
        "shop-beat",
        "shop-postgres",
        "shop-postgres-headless",
    )
    assert names.worker("emails") == "shop-worker-emails"
    assert names.migrations_job("abc") == "shop-migrate-abc"
    assert make_stack(name="blog").names.django_secret == "blog-django"


def test_release_hash_follows_image_and_migration_command_only() -> None:
    base = make_stack().spec.release_hash
    assert len(base) == 10
    assert make_stack(web={"replicas": 7}).spec.release_hash == base
    assert make_stack(image="registry.example.com/shop:1.0.1").spec.release_hash != base
    other_command = make_stack(migrations={"command": ["python", "manage.py", "migrate"]})
    assert other_command.spec.release_hash != base


@pytest.mark.parametrize(
    ("settings_module", "package"),
    [("config.settings", "config"), ("shop.settings.production", "shop.settings"), ("s", "s")],
)
def test_project_package_comes_from_settings_module(settings_module: str, package: str) -> None:
    assert make_stack(settingsModule=settings_module).spec.project_package == package


@pytest.mark.parametrize(
    "image",
    [
        "registry.example.com/shop:1.0.0",
        "registry.example.com:5000/team/shop:2024.10.1-rc1",
        "shop@sha256:" + "a" * 64,
        "registry.example.com/shop:1.0@sha256:" + "b" * 64,
    ],
)
def test_pinned_images_are_accepted(image: str) -> None:
    assert make_stack(image=image).spec.image == image


def test_external_services_replace_managed_ones() -> None:
    spec = make_stack(
        database={"managed": None, "external": {"urlSecretRef": {"name": "db"}}},
        redis={"managed": None, "external": {"urlSecretRef": {"name": "cache", "key": "u"}}},
    ).spec
    assert spec.database.managed is None
    assert spec.database.external is not None
    assert spec.database.external.url_secret_ref.key == "url"
    assert spec.redis.external is not None and spec.redis.external.url_secret_ref.key == "u"


def test_both_samples_are_valid() -> None:
    for name in ("minimal", "production"):
        assert parse_stack(sample(name)).name == "shop"


def test_at_least_twenty_invalid_cases_are_covered() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_invalid_spec_is_rejected_naming_the_field(case: InvalidCase) -> None:
    with pytest.raises(InvalidStackError) as rejected:
        parse_stack(stack_object(name=case.name, **case.spec))
    path, fragment = case.model
    matching = [p for p in rejected.value.problems if p.startswith(f"{path}: ")]
    assert matching, f"no problem for {path} in {rejected.value.problems}"
    assert any(fragment in problem for problem in matching), rejected.value.problems


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidStackError) as rejected:
        parse_stack(stack_object(image="x:latest", web={"replicas": -1}, backup={"retain": 0}))
    paths = {problem.split(":")[0] for problem in rejected.value.problems}
    assert {"spec.image", "spec.web.replicas", "spec.backup.retain"} <= paths


def test_non_object_document_is_rejected() -> None:
    with pytest.raises(InvalidStackError, match="must be a DjangoStack object"):
        parse_stack(["not", "a", "stack"])
