"""The writes of one reconcile, decided purely from what the caches show.

Each test reads as a table: given these live objects, the writes are exactly these."""

from __future__ import annotations

import copy
from typing import Any

from djangostack_operator.decide import InFlight, Write, decide
from djangostack_operator.references import ObjectInfo
from djangostack_operator.render.secrets import generated_secrets
from djangostack_operator.spec import DjangoStack
from tests.factories import make_stack

World = dict[str, dict[str, dict[str, Any]]]


def finish(obj: dict[str, Any]) -> dict[str, Any]:
    """What the cluster's controllers make of a written object: pods ready, Jobs complete."""
    obj = copy.deepcopy(obj)
    obj["metadata"]["resourceVersion"] = "1"
    obj["metadata"].setdefault("generation", 1)
    if obj["kind"] in ("Deployment", "StatefulSet"):
        replicas = obj["spec"].get("replicas", 1)
        obj["status"] = {"observedGeneration": 1, "replicas": replicas,
                         "updatedReplicas": replicas, "readyReplicas": replicas,
                         "availableReplicas": replicas}  # fmt: skip
    if obj["kind"] == "Job":
        obj["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    return obj


def perform(world: World, secrets: dict[str, ObjectInfo], writes: tuple[Write, ...]) -> None:
    for write in writes:
        if write.verb == "create-secret":
            assert write.secret is not None
            secrets[write.name] = ObjectInfo(frozenset(write.secret.keys), "digest")
        elif write.verb == "delete":
            del world[write.kind][write.name]
        else:
            world.setdefault(write.kind, {})[write.name] = finish(write.body)


def converged(stack: DjangoStack) -> tuple[World, dict[str, ObjectInfo]]:
    """Reconcile an empty namespace until nothing is left to write."""
    world: World = {}
    secrets: dict[str, ObjectInfo] = {}
    for _ in range(10):
        decision = decide(stack, world, secrets, {}, {})
        if not decision.writes:
            return world, secrets
        perform(world, secrets, decision.writes)
    raise AssertionError("the writes never converged")


def table(writes: tuple[Write, ...]) -> list[str]:
    return [f"{w.verb} {w.kind} {w.name}" for w in writes]


def test_an_empty_namespace_gets_secrets_and_data_services_before_any_app_tier() -> None:
    stack = make_stack()
    rows = table(decide(stack, {}, {}, {}, {}).writes)
    # The generated Secrets come first: the children written after them refer to them.
    assert rows[: len(generated_secrets(stack))] == [
        f"create-secret Secret {s.name}" for s in generated_secrets(stack)
    ]
    assert "apply StatefulSet shop-postgres" in rows
    # Nothing is migrated yet, and the database is not ready: no app tier, no migration.
    assert not [row for row in rows if row.startswith("apply Deployment")]
    assert not [row for row in rows if row.startswith("create Job shop-migrate")]


def test_a_converged_stack_gives_no_writes() -> None:
    stack = make_stack()
    world, secrets = converged(stack)
    assert table(decide(stack, world, secrets, {}, {}).writes) == []


def test_a_removed_worker_pool_gives_exactly_its_deletion() -> None:
    pools = [{"name": "default"}, {"name": "mail", "queues": ["mail"]}]
    world, secrets = converged(make_stack(workers=pools))
    shrunk = make_stack(workers=[{"name": "default"}])
    assert table(decide(shrunk, world, secrets, {}, {}).writes) == [
        "delete Deployment shop-worker-mail"
    ]


def test_a_new_image_gives_its_migrations_job_and_no_rollout_yet() -> None:
    stack = make_stack()
    world, secrets = converged(stack)
    upgraded = make_stack(image="registry.example.com/shop:2.0.0")
    assert table(decide(upgraded, world, secrets, {}, {}).writes) == [
        f"create Job {upgraded.names.migrations_job(upgraded.spec.release_hash)}",
        f"delete Job {stack.names.migrations_job(stack.spec.release_hash)}",
    ]


def test_a_hand_edited_deployment_gives_exactly_one_apply() -> None:
    stack = make_stack()
    world, secrets = converged(stack)
    world["Deployment"]["shop-web"]["spec"]["template"]["spec"]["containers"][0]["image"] = "x:1"
    assert table(decide(stack, world, secrets, {}, {}).writes) == ["apply Deployment shop-web"]


def test_a_write_still_in_flight_is_not_made_again() -> None:
    stack = make_stack()
    world, secrets = converged(stack)
    world["Service"]["shop-web"]["spec"]["ports"] = []
    (write,) = decide(stack, world, secrets, {}, {}).writes
    in_flight: InFlight = {("Service", stack.namespace, "shop-web"): (write.memory, "1")}
    assert table(decide(stack, world, secrets, {}, in_flight).writes) == []


def test_a_missing_referenced_secret_blocks_every_child_write() -> None:
    stack = make_stack(database={"external": {"urlSecretRef": {"name": "db-url", "key": "url"}}})
    decision = decide(stack, {}, {}, {}, {})
    assert all(w.verb == "create-secret" for w in decision.writes)
    assert decision.problems[0][0] == "SecretMissing"
    assert "spec.database.external.urlSecretRef" in decision.problems[0][1]


def test_writes_carry_the_event_to_post() -> None:
    world, secrets = converged(make_stack(workers=[{"name": "default"}, {"name": "mail"}]))
    (write,) = decide(make_stack(workers=[{"name": "default"}]), world, secrets, {}, {}).writes
    assert write.event is not None
    assert (write.event.type, write.event.reason) == ("Normal", "Pruned")
