"""The writes of one reconcile, decided purely from what the caches show.

Each test reads as a table: given these live objects, the writes are exactly these."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from djangostack_operator.decide import InFlight, Write, decide
from djangostack_operator.references import ObjectInfo
from djangostack_operator.render.pod import Release
from djangostack_operator.render.secrets import generated_secrets
from djangostack_operator.spec import DjangoStack
from djangostack_operator.vocabulary import MADE_FOR
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


def secret_info(write: Write, before: ObjectInfo | None = None) -> ObjectInfo:
    """What the cache keeps of a Secret after `write` (create-secret or regenerate-secret)."""
    assert write.secret is not None
    metadata = write.body["metadata"]
    owners = metadata.get("ownerReferences")
    owner = owners[0]["uid"] if owners else (before.owner if before else None)
    made_for = (metadata.get("annotations") or {}).get(MADE_FOR)
    return ObjectInfo(frozenset(write.secret.keys), "digest", made_for, owner, ours=True)


def perform(world: World, secrets: dict[str, ObjectInfo], writes: tuple[Write, ...]) -> None:
    for write in writes:
        if write.verb in ("create-secret", "regenerate-secret"):
            secrets[write.name] = secret_info(write, secrets.get(write.name))
        elif write.verb == "set-owner" and write.kind == "Secret":
            owners = write.body["metadata"]["ownerReferences"]
            secrets[write.name] = replace(
                secrets[write.name], owner=owners[0]["uid"] if owners else None
            )
        elif write.verb == "set-owner":
            obj = world[write.kind][write.name]
            obj["metadata"]["ownerReferences"] = write.body["metadata"]["ownerReferences"] or []
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


V1 = "registry.example.com/shop:1.0.0"


def failed_release(stack: DjangoStack, world: World) -> DjangoStack:
    """The stack at a new image whose migrations Job failed."""
    failing = make_stack(image="registry.example.com/shop:2.0.0")
    job = failing.names.migrations_job(failing.spec.release_hash)
    world.setdefault("Job", {})[job] = {
        "kind": "Job",
        "metadata": {"name": job, "resourceVersion": "1"},
        "status": {"conditions": [{"type": "Failed", "status": "True"}]},
    }
    return failing


def test_a_lost_web_deployment_comes_back_at_the_serving_release_while_a_release_failed() -> None:
    stack = make_stack(image=V1)
    world, secrets = converged(stack)
    failing = failed_release(stack, world)
    del world["Deployment"]["shop-web"]
    decision = decide(failing, world, secrets, {}, {})
    assert decision.plan.serving is not None and decision.plan.serving.image == V1
    rows = table(decision.writes)
    assert "apply Deployment shop-web" in rows
    assert not [row for row in rows if row.startswith("delete Deployment")]
    web = next(w for w in decision.writes if w.name == "shop-web")
    assert web.body["spec"]["template"]["spec"]["containers"][0]["image"] == V1


def test_with_every_app_deployment_lost_the_status_record_keeps_the_serving_release() -> None:
    stack = make_stack(image=V1)
    world, secrets = converged(stack)
    recorded = Release(V1, stack.spec.release_hash)
    failing = failed_release(stack, world)
    for name in ("shop-web", "shop-worker-default", "shop-beat"):
        del world["Deployment"][name]
    assert decide(failing, world, secrets, {}, {}).plan.serving is None
    decision = decide(failing, world, secrets, {}, {}, recorded=recorded)
    assert decision.plan.serving == recorded
    assert {"apply Deployment shop-web", "apply Deployment shop-worker-default",
            "apply Deployment shop-beat"} <= set(table(decision.writes))  # fmt: skip


def test_a_record_of_the_desired_release_wins_over_an_older_one() -> None:
    old = make_stack(image=V1)
    world, secrets = converged(old)
    new = make_stack(image="registry.example.com/shop:2.0.0")
    recorded = Release(new.spec.image, new.spec.release_hash)
    # The new release was migrated and recorded; web was lost before it rolled.
    del world["Deployment"]["shop-web"]
    assert decide(new, world, secrets, {}, {}, recorded=recorded).plan.serving == recorded


def test_a_generated_password_that_is_gone_while_its_database_volume_remains_stalls() -> None:
    stack = make_stack()
    world, secrets = converged(stack)
    world.setdefault("PersistentVolumeClaim", {})["data-shop-postgres-0"] = {
        "kind": "PersistentVolumeClaim", "metadata": {"name": "data-shop-postgres-0"},
    }  # fmt: skip
    del secrets["shop-postgres"]
    decision = decide(stack, world, secrets, {}, {})
    assert [reason for reason, _ in decision.problems] == ["SecretLost"]
    assert "data-shop-postgres-0" in decision.problems[0][1]
    assert "create-secret Secret shop-postgres" not in table(decision.writes)
    # Redis keeps no password in its data: its Secret is made again.
    del secrets["shop-redis"]
    assert "create-secret Secret shop-redis" in table(decide(stack, world, secrets, {}, {}).writes)
    # Without the volume (a new stack, or the user deleted it), a new password is made.
    del world["PersistentVolumeClaim"]["data-shop-postgres-0"]
    assert "create-secret Secret shop-postgres" in table(
        decide(stack, world, secrets, {}, {}).writes
    )


def test_a_changed_host_gets_a_new_self_signed_certificate_once() -> None:
    stack = make_stack()
    world, secrets = converged(stack)
    moved = make_stack(ingress={"host": "store.example.com"})
    decision = decide(moved, world, secrets, {}, {})
    assert [r for r in table(decision.writes) if "Secret" in r] == [
        "regenerate-secret Secret shop-tls"
    ]
    perform(world, secrets, decision.writes)
    assert secrets["shop-tls"].made_for == "store.example.com"
    assert table(decide(moved, world, secrets, {}, {}).writes) == []


def test_switching_deletion_policy_moves_secrets_and_backup_claim_together() -> None:
    stack = make_stack(deletionPolicy="Retain")
    world, secrets = converged(stack)
    assert {info.owner for info in secrets.values()} == {None}
    deleting = make_stack(deletionPolicy="Delete")
    decision = decide(deleting, world, secrets, {}, {})
    owners = sorted(row for row in table(decision.writes) if row.startswith("set-owner"))
    assert owners == [
        "set-owner PersistentVolumeClaim shop-backups", "set-owner Secret shop-django",
        "set-owner Secret shop-postgres", "set-owner Secret shop-postgres-superuser",
        "set-owner Secret shop-redis", "set-owner Secret shop-tls",
    ]  # fmt: skip
    perform(world, secrets, decision.writes)
    assert {info.owner for info in secrets.values()} == {deleting.metadata.uid}
    assert not [r for r in table(decide(deleting, world, secrets, {}, {}).writes)
                if r.startswith("set-owner")]  # fmt: skip
    back = decide(stack, world, secrets, {}, {})
    assert len([r for r in table(back.writes) if r.startswith("set-owner")]) == len(owners)
    perform(world, secrets, back.writes)
    assert {info.owner for info in secrets.values()} == {None}
    assert world["PersistentVolumeClaim"]["shop-backups"]["metadata"]["ownerReferences"] == []


def test_a_child_name_another_stack_holds_is_reported_and_left_alone() -> None:
    stack = make_stack()
    taken = {("Deployment", "shop-web"): "DjangoStack other"}
    world, secrets = converged(make_stack(web={"replicas": 0}))
    decision = decide(stack, world, secrets, {}, {}, taken=taken)
    assert ("NameConflict", "Deployment shop-web belongs to DjangoStack other; the stack"
            " leaves it alone") in decision.problems  # fmt: skip
    assert "apply Deployment shop-web" not in table(decision.writes)


def test_a_child_controlled_by_another_object_is_never_written() -> None:
    stack = make_stack()
    world, secrets = converged(stack)
    service = world["Service"]["shop-web"]
    service["metadata"]["ownerReferences"] = [
        {"kind": "DjangoStack", "name": "shop", "uid": "earlier", "controller": True}
    ]
    service["spec"] = {}  # drift the stack would repair, were the Service its own
    decision = decide(stack, world, secrets, {}, {})
    assert [reason for reason, _ in decision.problems] == ["NameConflict"]
    assert "DjangoStack shop (uid earlier)" in decision.problems[0][1]
    assert "apply Service shop-web" not in table(decision.writes)


def test_a_secret_the_user_made_under_a_generated_name_is_never_adopted() -> None:
    stack = make_stack(deletionPolicy="Delete")
    world, secrets = converged(stack)
    secrets["shop-postgres"] = ObjectInfo(frozenset({"password"}), "theirs", ours=False)
    rows = table(decide(stack, world, secrets, {}, {}).writes)
    assert not [row for row in rows if "shop-postgres" in row]
