"""Deciding what to write (diff.py) and what a stack is missing (references.py)."""

from __future__ import annotations

import copy
from typing import Any

from djangostack_operator import diff
from djangostack_operator.references import ObjectInfo, config_digests, missing_references
from djangostack_operator.render import RenderContext, django
from tests.factories import make_stack


def deployment() -> dict[str, Any]:
    return django.web_deployment(make_stack(), RenderContext())


def as_stored(stamped: dict[str, Any]) -> dict[str, Any]:
    """What the API server returns: our fields plus defaults, status and bookkeeping."""
    live = copy.deepcopy(stamped)
    live["metadata"] |= {"uid": "u", "resourceVersion": "7", "generation": 1}
    live["spec"]["progressDeadlineSeconds"] = 600
    container = live["spec"]["template"]["spec"]["containers"][0]
    container["terminationMessagePath"] = "/dev/termination-log"
    container["livenessProbe"]["successThreshold"] = 1
    live["status"] = {"readyReplicas": 2}
    return live


def test_stored_object_with_defaults_is_up_to_date() -> None:
    stamped = diff.with_applied_digest(deployment())
    assert diff.up_to_date(stamped, as_stored(stamped))


def test_absent_object_is_not_up_to_date() -> None:
    assert not diff.up_to_date(diff.with_applied_digest(deployment()), None)


def test_hand_edit_is_drift() -> None:
    stamped = diff.with_applied_digest(deployment())
    live = as_stored(stamped)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "evil:1"
    assert not diff.up_to_date(stamped, live)
    live = as_stored(stamped)
    live["spec"]["template"]["spec"]["containers"][0]["env"].pop()
    assert not diff.up_to_date(stamped, live)


def test_empty_values_the_api_server_drops_are_not_drift() -> None:
    stack = make_stack(env=[{"name": "EMPTY", "value": ""}])
    stamped = diff.with_applied_digest(django.web_deployment(stack, RenderContext()))
    live = as_stored(stamped)
    container = live["spec"]["template"]["spec"]["containers"][0]
    empty = next(e for e in container["env"] if e["name"] == "EMPTY")
    assert empty == {"name": "EMPTY", "value": ""}
    del empty["value"]  # omitempty: the API server stores {"name": "EMPTY"}
    assert diff.up_to_date(stamped, live)
    # A value that is not empty still has to be there.
    empty["value"] = "x"
    assert not diff.up_to_date(stamped, live)


def test_a_field_we_stopped_setting_still_needs_a_write() -> None:
    before = diff.with_applied_digest(deployment())
    live = as_stored(before)
    after_desired = deployment()
    del after_desired["spec"]["replicas"]
    after = diff.with_applied_digest(after_desired)
    # Every desired field is present in the live object...
    assert diff.is_subset(after_desired, live)
    # ...but the digest says the desired object changed, so it is applied (and replicas released).
    assert not diff.up_to_date(after, live)


def test_digest_is_stable_and_ignores_a_previous_stamp() -> None:
    once = diff.with_applied_digest(deployment())
    twice = diff.with_applied_digest(once)
    assert once == twice


def test_applies_field_reads_managed_fields() -> None:
    live = {
        "metadata": {
            "managedFields": [
                {"manager": "djangostack-operator", "operation": "Apply",
                 "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}},
                {"manager": "kube-controller-manager", "operation": "Update",
                 "fieldsV1": {"f:status": {}}},
            ]
        }
    }  # fmt: skip
    assert diff.applies_field(live, "djangostack-operator", "spec", "replicas")
    assert not diff.applies_field(live, "djangostack-operator", "spec", "paused")
    assert not diff.applies_field(live, "kube-controller-manager", "status")
    assert not diff.applies_field(None, "djangostack-operator", "spec", "replicas")


def info(*keys: str) -> ObjectInfo:
    return ObjectInfo(frozenset(keys), "digest-" + "-".join(keys))


def test_missing_references_name_the_object_and_the_field() -> None:
    stack = make_stack(
        secretKeyRef={"name": "key", "key": "k"},
        database={"managed": None, "external": {"urlSecretRef": {"name": "db"}}},
        env=[
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}},
            {
                "name": "B",
                "valueFrom": {"secretKeyRef": {"name": "opt", "key": "b", "optional": True}},
            },
        ],
        envFrom=[{"secretRef": {"name": "settings"}}],
    )
    problems = missing_references(stack, {"key": info("other")}, {"cm": info("a")})
    assert problems == [
        ("SecretKeyMissing", "Secret key (spec.secretKeyRef) has no key k"),
        ("SecretMissing", "Secret db (spec.database.external.urlSecretRef) does not exist"),
        ("SecretMissing", "Secret settings (spec.envFrom[0]) does not exist"),
    ]
    complete = {"key": info("k"), "db": info("url"), "settings": info("X")}
    assert missing_references(stack, complete, {"cm": info("a")}) == []


def test_config_digests_cover_the_references_that_exist() -> None:
    refs = ["ConfigMap/cm", "Secret/db", "Secret/gone"]
    assert config_digests(refs, {"db": info("url")}, {"cm": info("a")}) == {
        "ConfigMap/cm": "digest-a",
        "Secret/db": "digest-url",
    }


def test_recent_writes_are_in_flight_for_their_namespace_until_they_grow_old() -> None:
    from djangostack_operator.reconcile import ECHO_SECONDS, RecentWrites  # noqa: PLC0415

    now = [100.0]
    recent = RecentWrites(clock=lambda: now[0])
    key = ("Deployment", "ns", "shop-web")
    recent.record(key, "digest-a", "10")
    recent.record(("Job", "other", "migrate"), "created", None)
    # What was written, over which version: decide.py compares it with the cache.
    assert recent.snapshot("ns") == {key: ("digest-a", "10")}
    # Never for long: a write not seen within ECHO_SECONDS is made again.
    now[0] += ECHO_SECONDS + 1
    assert recent.snapshot("ns") == {}
