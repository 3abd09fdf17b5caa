"""The operator, running for real against the local control plane (kwok makes pods Ready and Job
pods Succeeded; an annotation makes a Job's pods fail)."""

from __future__ import annotations

import base64
import datetime
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from djangostack_operator.render.meta import CONFIG_CHECKSUM
from djangostack_operator.render.secrets import generated_secrets
from tests.factories import certificate_expiring, make_stack
from tests.kube_helpers import wait_for, wait_gone
from tests.stacks import Stacks

V1 = "registry.example.com/shop:1.0.0"
V2 = "registry.example.com/shop:2.0.0"
FAIL_JOBS = {"pod-container-running-failed.stage.kwok.x-k8s.io": "true"}
SLOW_JOBS = {"pod-complete.stage.kwok.x-k8s.io/delay": "4s"}
APP_DEPLOYMENTS = ("shop-web", "shop-worker-default", "shop-beat")


@pytest.fixture
def stacks(api_client: client.ApiClient, op_namespace: str) -> Stacks:
    return Stacks(api_client, op_namespace)


@pytest.fixture
def solo_stacks(api_client: client.ApiClient, solo_namespace: str) -> Stacks:
    return Stacks(api_client, solo_namespace)


def test_minimal_stack_reaches_ready_with_owned_labelled_children(
    stacks: Stacks, kubeconfig: Path, api_client: client.ApiClient
) -> None:
    created = stacks.create()
    uid = created["metadata"]["uid"]
    # `kubectl wait` is how users and CI systems wait for a stack.
    subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "-n", stacks.namespace, "wait",
         "--for=condition=Ready", "djs/shop", "--timeout=90s"],
        check=True, capture_output=True,
    )  # fmt: skip
    stack = stacks.get()
    status = stack["status"]
    assert status["phase"] == "Ready"
    assert status["releasedImage"] == V1
    assert status["url"] == "https://shop.example.com"
    assert status["observedGeneration"] == stack["metadata"]["generation"]
    assert status["components"]["web"] == {"desired": 2, "ready": 2}
    assert status["components"]["workers"] == {"default": {"desired": 1, "ready": 1}}
    assert status["components"]["beat"] == {"desired": 1, "ready": 1}
    types = {c["type"]: c["status"] for c in status["conditions"]}
    for kind in ("Ready", "DatabaseReady", "CacheReady", "Migrated", "WebAvailable",
                 "WorkersAvailable", "BeatAvailable", "TLSReady"):  # fmt: skip
        assert types[kind] == "True", kind
    assert types["Stalled"] == "False" and types["Reconciling"] == "False"

    objects = stacks.resource_versions()
    for kind in ("Deployment/shop-web", "Deployment/shop-worker-default", "Deployment/shop-beat",
                 "StatefulSet/shop-postgres", "StatefulSet/shop-redis", "Service/shop-web",
                 "CronJob/shop-backup", "Secret/shop-postgres", "Secret/shop-tls"):  # fmt: skip
        assert kind in objects, kind
    selector = "app.kubernetes.io/instance=shop"
    owned = [
        *stacks.apps.list_namespaced_deployment(stacks.namespace, label_selector=selector).items,
        *stacks.apps.list_namespaced_stateful_set(stacks.namespace, label_selector=selector).items,
        *stacks.core.list_namespaced_service(stacks.namespace, label_selector=selector).items,
        *stacks.batch.list_namespaced_cron_job(stacks.namespace, label_selector=selector).items,
        *client.NetworkingV1Api(api_client)
        .list_namespaced_ingress(stacks.namespace, label_selector=selector)
        .items,
    ]
    assert len(owned) >= 11
    for obj in owned:
        (owner,) = obj.metadata.owner_references
        assert (owner.kind, owner.name, owner.uid, owner.controller) == (
            "DjangoStack",
            "shop",
            uid,
            True,
        )
        assert obj.metadata.labels["app.kubernetes.io/managed-by"] == "djangostack-operator"
        assert obj.metadata.labels["app.kubernetes.io/part-of"] == "shop"
    events = stacks.core.list_namespaced_event(
        stacks.namespace, field_selector="involvedObject.kind=DjangoStack"
    ).items
    reasons = {event.reason for event in events}
    assert {"SecretCreated", "MigrationStarted", "MigrationSucceeded", "Ready"} <= reasons


def record_images(stacks: Stacks, stop: threading.Event, seen: list[tuple[str, str, bool]]) -> None:
    """Record (deployment, image, migration job complete?) until stopped."""
    while not stop.is_set():
        jobs = stacks.jobs("shop-migrate-")
        done = any(
            (j.status.succeeded or 0) >= 1
            for j in jobs
            if j.metadata.annotations.get("djangostack.io/release-image") == V2
        )
        for name in APP_DEPLOYMENTS:
            seen.append((name, stacks.image_of(name), done))
        time.sleep(0.05)


def test_image_change_migrates_first_and_only_then_rolls_every_tier(stacks: Stacks) -> None:
    stacks.create()
    stacks.wait_ready()
    stop, seen = threading.Event(), []
    recorder = threading.Thread(target=record_images, args=(stacks, stop, seen))
    recorder.start()
    try:
        stacks.patch_spec({"image": V2, "podAnnotations": SLOW_JOBS})
        migrating = stacks.wait_condition("Migrated", "False")
        assert migrating["status"]["phase"] == "Migrating"
        assert migrating["status"]["releasedImage"] == V1
        stack = stacks.wait_ready()
    finally:
        stop.set()
        recorder.join()
    assert stack["status"]["releasedImage"] == V2
    for name in APP_DEPLOYMENTS:
        assert stacks.image_of(name) == V2
    # While the Job had not succeeded, no Deployment ever showed the new image.
    assert any(not done for _, _, done in seen)
    assert all(image == V1 for _, image, done in seen if not done)
    # The old release's Job is pruned; the new one is kept as the record.
    assert [
        j.metadata.annotations["djangostack.io/release-image"] for j in stacks.jobs("shop-migrate-")
    ] == [V2]


def test_failed_migration_stalls_and_keeps_previous_release_serving(stacks: Stacks) -> None:
    stacks.create()
    stacks.wait_ready()
    stacks.patch_spec({"image": V2, "podAnnotations": FAIL_JOBS})
    stalled = stacks.wait_condition("Stalled", "True")
    status = stalled["status"]
    assert status["phase"] == "Stalled"
    assert status["releasedImage"] == V1
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Migrated"]["status"] == "False"
    assert conditions["Migrated"]["reason"] == "Failed"
    assert conditions["Stalled"]["reason"] == "MigrationFailed"
    assert V1 in conditions["Migrated"]["message"]
    assert conditions["Ready"]["status"] == "False"
    for name in APP_DEPLOYMENTS:
        assert stacks.image_of(name) == V1
    # The new pod annotation rolls the old release's pods; once that settles, nothing moves.
    for kind in ("WebAvailable", "WorkersAvailable", "BeatAvailable"):
        stacks.wait_condition(kind, "True")
    # No hot loop: the failed Job is not retried and the stack is not rewritten.
    before = stacks.get()["metadata"]["resourceVersion"]
    failed = [
        j
        for j in stacks.jobs("shop-migrate-")
        if j.metadata.annotations["djangostack.io/release-image"] == V2
    ]
    assert len(failed) == 1
    time.sleep(3)  # a window for a hot loop to show itself, not a wait for a state
    assert stacks.get()["metadata"]["resourceVersion"] == before
    again = [
        j.metadata.uid
        for j in stacks.jobs("shop-migrate-")
        if j.metadata.annotations["djangostack.io/release-image"] == V2
    ]
    assert again == [failed[0].metadata.uid]
    # A new spec is a new attempt: a fixed image migrates and rolls.
    stacks.patch_spec({"image": "registry.example.com/shop:2.0.1", "podAnnotations": None})
    stack = stacks.wait_ready()
    assert stack["status"]["releasedImage"] == "registry.example.com/shop:2.0.1"


def test_deleted_service_and_hand_edited_deployment_are_restored(stacks: Stacks) -> None:
    stacks.create()
    stacks.wait_ready()
    original_uid = stacks.core.read_namespaced_service("shop-web", stacks.namespace).metadata.uid
    stacks.core.delete_namespaced_service("shop-web", stacks.namespace)
    wait_for(
        "Service shop-web to be re-created",
        lambda: (
            stacks.core.read_namespaced_service("shop-web", stacks.namespace).metadata.uid
            != original_uid
        ),
    )
    stacks.apps.patch_namespaced_deployment(
        "shop-web",
        stacks.namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "evil:6.6.6"}]}}}},
    )
    wait_for("web image to be restored", lambda: stacks.image_of("shop-web") == V1)


def test_replica_changes_apply_and_autoscaled_replicas_are_left_to_the_hpa(
    stacks: Stacks, api_client: client.ApiClient
) -> None:
    stacks.create()
    stacks.wait_ready()
    stacks.patch_spec({"web": {"replicas": 3}})
    wait_for(
        "web to have 3 replicas",
        lambda: (
            stacks.apps.read_namespaced_deployment("shop-web", stacks.namespace).spec.replicas == 3
        ),
    )
    stacks.patch_spec({"web": {"autoscaling": {"minReplicas": 2, "maxReplicas": 6}}})
    autoscaling = client.AutoscalingV2Api(api_client)
    wait_for(
        "the HPA",
        lambda: autoscaling.read_namespaced_horizontal_pod_autoscaler("shop-web", stacks.namespace),
    )
    stacks.wait_ready()
    # Handing replicas over to the HPA does not reset them.
    assert stacks.apps.read_namespaced_deployment("shop-web", stacks.namespace).spec.replicas == 3
    # What the HPA (or anyone) sets is not fought over, not even after another reconcile.
    stacks.apps.patch_namespaced_deployment_scale(
        "shop-web", stacks.namespace, {"spec": {"replicas": 5}}
    )
    stacks.patch_spec({"web": {"port": 8001}})
    wait_for(
        "the web port change to roll out",
        lambda: (
            stacks.apps.read_namespaced_deployment("shop-web", stacks.namespace)
            .spec.template.spec.containers[0]
            .ports[0]
            .container_port
            == 8001
        ),
    )
    stacks.wait_ready()
    assert stacks.apps.read_namespaced_deployment("shop-web", stacks.namespace).spec.replicas == 5


def test_beat_never_has_two_pods_across_an_image_change(stacks: Stacks) -> None:
    stacks.create()
    stacks.wait_ready()
    alive: set[str] = set()
    most = [0]
    stop = threading.Event()

    def watch_beat_pods() -> None:
        watcher = watch.Watch()
        for event in watcher.stream(
            stacks.core.list_namespaced_pod,
            stacks.namespace,
            label_selector="app.kubernetes.io/component=beat",
            timeout_seconds=60,
        ):
            pod = event["object"]
            if event["type"] == "DELETED":
                alive.discard(pod.metadata.name)
            else:
                alive.add(pod.metadata.name)
            most[0] = max(most[0], len(alive))
            if stop.is_set():
                watcher.stop()

    watcher_thread = threading.Thread(target=watch_beat_pods)
    watcher_thread.start()
    stacks.patch_spec({"image": V2})
    stacks.wait_ready()
    wait_for("the new beat pod", lambda: stacks.image_of("shop-beat") == V2)
    stop.set()
    # One more event ends the watch promptly.
    stacks.patch_spec({"beat": {"enabled": False}})
    watcher_thread.join(timeout=70)
    assert most[0] == 1
    deployment = stacks.apps.read_namespaced_deployment("shop-beat", stacks.namespace)
    assert deployment.spec.strategy.type == "Recreate"


def test_removed_worker_pool_is_pruned(stacks: Stacks) -> None:
    stacks.create(workers=[{"name": "default"}, {"name": "emails", "queues": ["emails"]}])
    stacks.wait_ready()
    assert stacks.image_of("shop-worker-emails") == V1
    stacks.patch_spec({"workers": [{"name": "default"}]})
    wait_gone(
        "Deployment shop-worker-emails",
        lambda: stacks.apps.read_namespaced_deployment("shop-worker-emails", stacks.namespace),
    )
    stacks.wait_ready()


def test_pods_the_cluster_refuses_are_reported_with_its_reason_and_placement_reaches_them(
    stacks: Stacks,
) -> None:
    """The stack-wide placement reaches every pod; a PriorityClass that does not exist stops
    the web pods from being created, and the stack says so with the API's own words."""
    stacks.create(
        placement={"podLabels": {"team": "shop"},
                   "tolerations": [{"key": "dedicated", "operator": "Exists"}]},
        web={"placement": {"priorityClassName": "no-such-class"}},
    )  # fmt: skip

    def refused() -> dict[str, Any] | None:
        found = stacks.condition("WebAvailable")
        return found if found.get("reason") == "FailedCreate" else None

    reached = wait_for("WebAvailable to name the refusal", refused, timeout=120)
    assert "no PriorityClass with name no-such-class" in reached["message"], reached
    for name in ("shop-worker-default", "shop-beat"):
        pods = stacks.core.list_namespaced_pod(
            stacks.namespace, label_selector="app.kubernetes.io/instance=shop,team=shop"
        ).items
        assert any(p.metadata.name.startswith(name) for p in pods), name
    postgres = stacks.apps.read_namespaced_stateful_set("shop-postgres", stacks.namespace)
    [toleration] = postgres.spec.template.spec.tolerations
    assert (toleration.key, toleration.operator) == ("dedicated", "Exists")

    stacks.patch_spec({"web": {"placement": None}})
    stacks.wait_ready(timeout=120)
    assert stacks.condition("WebAvailable")["reason"] == "Available"


def test_invalid_update_is_refused_and_the_running_stack_is_untouched(stacks: Stacks) -> None:
    stacks.create()
    ready = stacks.wait_ready()
    with pytest.raises(ApiException) as rejected:
        stacks.patch_spec({"web": {"replicas": -1}})
    assert rejected.value.status == 422
    assert "spec.web.replicas" in rejected.value.body
    stack = stacks.get()
    assert stack["metadata"]["generation"] == ready["metadata"]["generation"]
    assert stack["status"]["phase"] == "Ready"


def test_missing_external_database_secret_stalls_then_recovers(stacks: Stacks) -> None:
    stacks.create(database={"managed": None, "external": {"urlSecretRef": {"name": "shop-db"}}})
    stalled = stacks.wait_condition("Stalled", "True")
    condition = next(c for c in stalled["status"]["conditions"] if c["type"] == "Stalled")
    assert condition["reason"] == "SecretMissing"
    assert "shop-db" in condition["message"] and "urlSecretRef" in condition["message"]
    assert stacks.apps.list_namespaced_deployment(stacks.namespace).items == []
    # Bounded writes while stalled: nothing is rewritten.
    before = stacks.get()["metadata"]["resourceVersion"]
    time.sleep(3)  # a window for repeated writes to show, not a wait for a state
    assert stacks.get()["metadata"]["resourceVersion"] == before
    stacks.core.create_namespaced_secret(
        stacks.namespace,
        {"metadata": {"name": "shop-db"}, "stringData": {"url": "postgres://u:p@db:5432/shop"}},
    )
    stacks.wait_ready(timeout=120)


def secret_values(stacks: Stacks) -> dict[str, dict[str, str]]:
    values = {}
    for name in ("shop-django", "shop-postgres", "shop-redis"):
        data = stacks.core.read_namespaced_secret(name, stacks.namespace).data
        values[name] = {key: base64.b64decode(value).decode() for key, value in data.items()}
    return values


def test_passwords_survive_an_operator_restart_and_never_reach_the_logs(
    solo_stacks: Stacks, solo_operator: Any
) -> None:
    first = solo_operator()
    solo_stacks.create()
    solo_stacks.wait_ready()
    before = secret_values(solo_stacks)
    first.stop()
    second = solo_operator()
    solo_stacks.patch_spec({"web": {"replicas": 3}})
    wait_for(
        "the restarted operator to apply a change",
        lambda: (
            solo_stacks.apps.read_namespaced_deployment(
                "shop-web", solo_stacks.namespace
            ).spec.replicas
            == 3
        ),
    )
    assert secret_values(solo_stacks) == before
    logs = first.log() + second.log()
    for secret in before.values():
        for value in secret.values():
            assert value not in logs


def test_sigkill_mid_release_then_restart_converges_without_duplicate_jobs(
    solo_stacks: Stacks, solo_operator: Any
) -> None:
    operator = solo_operator()
    solo_stacks.create(podAnnotations=SLOW_JOBS)
    wait_for("the migrations Job", lambda: solo_stacks.jobs("shop-migrate-"))
    operator.kill()
    solo_operator()
    stack = solo_stacks.wait_ready()
    jobs = solo_stacks.jobs("shop-migrate-")
    assert len(jobs) == 1
    assert stack["status"]["releasedImage"] == V1
    secrets = solo_stacks.core.list_namespaced_secret(
        solo_stacks.namespace, label_selector="app.kubernetes.io/instance=shop"
    ).items
    # Each generated Secret exactly once, made by one of the two operator processes.
    assert sorted(s.metadata.name for s in secrets) == sorted(
        wanted.name for wanted in generated_secrets(make_stack())
    )


# Inputs the API server stores in another form than written: quantities it canonicalises
# (0.1 -> 100m, 1024Mi -> 1Gi, 1.5Gi -> 1536Mi, 1e3 -> 1e3), empty values it drops.
NON_CANONICAL = {
    "web": {"resources": {"requests": {"cpu": "0.1", "memory": "262144Ki"},
                          "limits": {"cpu": "1000m", "memory": "1.5Gi"}}},
    "workers": [{"name": "default", "resources": {"requests": {"cpu": ".05", "memory": "1e8"},
                                                  "limits": {"memory": "1024Mi"}}}],
    "database": {"managed": {"storage": "1024Mi"}},
    "redis": {"managed": {"storage": "0.5Gi"}},
    "backup": {"storage": "2048Mi"},
    "env": [{"name": "EMPTY", "value": ""}, {"name": "PLAIN", "value": "x"}],
    "envFrom": [{"prefix": "", "configMapRef": {"name": "absent", "optional": True}}],
    "podAnnotations": {"example.com/empty": ""},
    "ingress": {"host": "shop.example.com",
                "annotations": {"external-dns.alpha.kubernetes.io/empty": ""}},
}  # fmt: skip


@pytest.mark.parametrize("spec", [{}, NON_CANONICAL], ids=["defaults", "non-canonical"])
def test_idle_resyncs_after_ready_make_zero_writes(
    solo_stacks: Stacks, solo_operator: Any, spec: dict[str, Any]
) -> None:
    operator = solo_operator(resync_seconds=1)
    solo_stacks.create(**spec)
    solo_stacks.wait_ready()
    # Let the last watch events of the rollout arrive, then measure.
    wait_for("a quiet moment", lambda: _quiet(operator, seconds=2), timeout=60)
    versions = solo_stacks.resource_versions()
    writes = operator.write_requests()
    reconciles = _reconciles(operator)
    time.sleep(5)  # five resync periods of the operator under test
    assert _reconciles(operator) >= reconciles + 4, "the resyncs did not run"
    assert operator.write_requests() == writes
    assert solo_stacks.resource_versions() == versions


def _reconciles(operator: Any) -> float:
    return float(operator.reconciles())


def _quiet(operator: Any, seconds: float) -> bool:
    before = operator.write_requests()
    time.sleep(seconds)
    return bool(operator.write_requests() == before)


@pytest.mark.parametrize("policy", ["Retain", "Delete"])
def test_deletion_keeps_or_removes_volumes_by_policy(
    solo_stacks: Stacks, solo_operator: Any, policy: str
) -> None:
    solo_operator()
    solo_stacks.create(deletionPolicy=policy)
    solo_stacks.wait_ready()
    claims = {"data-shop-postgres-0", "data-shop-redis-0", "shop-backups"}

    def claim_uids() -> dict[str, str]:
        items = solo_stacks.core.list_namespaced_persistent_volume_claim(
            solo_stacks.namespace
        ).items
        return {
            c.metadata.name: c.metadata.uid for c in items if c.metadata.deletion_timestamp is None
        }

    wait_for("the volume claims", lambda: set(claim_uids()) == claims)
    before = claim_uids()
    passwords = secret_values(solo_stacks)
    solo_stacks.delete()
    wait_gone(
        "StatefulSet shop-postgres",
        lambda: solo_stacks.apps.read_namespaced_stateful_set(
            "shop-postgres", solo_stacks.namespace
        ),
    )
    if policy == "Delete":
        wait_for("the volume claims to go", lambda: not claim_uids())
        return
    assert claim_uids() == before
    solo_stacks.create(deletionPolicy=policy)
    solo_stacks.wait_ready()
    assert claim_uids() == before
    assert secret_values(solo_stacks) == passwords
    pod = solo_stacks.core.read_namespaced_pod("shop-postgres-0", solo_stacks.namespace)
    claim_names = {
        v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim
    }
    assert claim_names == {"data-shop-postgres-0"}


def test_operator_serves_metrics_and_liveness(stacks: Stacks, shared_operator: Any) -> None:
    stacks.create()
    stacks.wait_ready()
    text = shared_operator.metrics()
    for metric in ("controller_runtime_reconcile_total",
                   "controller_runtime_reconcile_time_seconds_bucket", "workqueue_depth",
                   "workqueue_adds_total", "workqueue_retries_total",
                   "workqueue_queue_duration_seconds_bucket", "djangostack_api_requests_total",
                   "djangostack_stacks"):  # fmt: skip
        assert metric in text, metric
    assert 'djangostack_stacks{ready="True"}' in text
    assert shared_operator.healthy()


def stack_series(text: str, namespace: str) -> dict[str, float]:
    """The per-stack series of one namespace: `metric{phase}` or `metric` to value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("namespace") == namespace:
                phase = sample.labels.get("phase")
                found[f"{sample.name}{{{phase}}}" if phase else sample.name] = sample.value
    return found


def test_per_stack_metrics_follow_the_stack_and_go_with_it(
    stacks: Stacks, shared_operator: Any
) -> None:
    stacks.create()
    stacks.wait_ready()
    series = stack_series(shared_operator.metrics(), stacks.namespace)
    assert series["djangostack_stack_ready"] == 1
    assert series["djangostack_stack_phase{Ready}"] == 1
    assert series["djangostack_stack_phase{Migrating}"] == 0
    assert series["djangostack_stack_backup_interval_seconds"] == 24 * 3600  # "0 3 * * *"
    # The self-signed certificate the operator made for the Ingress: valid for months.
    assert series["djangostack_stack_certificate_expiry_timestamp_seconds"] > time.time() + 86400
    assert series["djangostack_migration_failures_total"] == 0
    stacks.delete()
    wait_for(
        "the deleted stack's series to go",
        lambda: not stack_series(shared_operator.metrics(), stacks.namespace),
    )


def test_changed_config_rolls_the_pods_that_read_it(stacks: Stacks) -> None:
    stacks.core.create_namespaced_config_map(
        stacks.namespace, {"metadata": {"name": "shop-config"}, "data": {"FEATURE": "off"}}
    )
    stacks.create(envFrom=[{"configMapRef": {"name": "shop-config"}}])
    stacks.wait_ready()

    def checksum() -> str:
        deployment = stacks.apps.read_namespaced_deployment("shop-web", stacks.namespace)
        return str(deployment.spec.template.metadata.annotations["djangostack.io/config-checksum"])

    before = checksum()
    stacks.core.patch_namespaced_config_map(
        "shop-config", stacks.namespace, {"data": {"FEATURE": "on"}}
    )
    wait_for("the web pods to roll", lambda: checksum() != before)
    stacks.wait_ready()


def test_a_changed_referenced_secret_rolls_the_pods_within_a_resync_period(
    stacks: Stacks,
) -> None:
    """No Secret is watched: the operator reads the referenced one again on the next resync
    (every 30 s here) and its new digest rolls the app pods."""
    stacks.core.create_namespaced_secret(
        stacks.namespace, {"metadata": {"name": "api"}, "stringData": {"token": "one"}}
    )
    token = {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}
    stacks.create(env=[token])
    stacks.wait_ready()

    def checksum() -> str:
        web = stacks.apps.read_namespaced_deployment("shop-web", stacks.namespace)
        return str(web.spec.template.metadata.annotations[CONFIG_CHECKSUM])

    before = checksum()
    stacks.core.patch_namespaced_secret("api", stacks.namespace, {"stringData": {"token": "two"}})
    # One resync period (30 s) and the reconcile it starts, with room for a loaded machine.
    after = wait_for("the new token's rollout", lambda: checksum() != before and checksum(),
                     timeout=90, interval=1)  # fmt: skip
    assert after != before
    for deployment in APP_DEPLOYMENTS[1:]:
        pod = stacks.apps.read_namespaced_deployment(deployment, stacks.namespace).spec.template
        assert pod.metadata.annotations[CONFIG_CHECKSUM] == after, deployment


def test_an_ingress_annotation_off_the_allow_list_stalls_and_leaves_the_ingress_alone(
    stacks: Stacks,
) -> None:
    """Ingress annotations configure the shared controller: a snippet from whoever may edit
    a stack is refused by name, with an Event, and the running stack keeps what it had."""
    stacks.create()
    stacks.wait_ready()
    networking = client.NetworkingV1Api(stacks.apps.api_client)
    before = networking.read_namespaced_ingress("shop-web", stacks.namespace)
    snippet = "nginx.ingress.kubernetes.io/server-snippet"
    stacks.patch_spec({"ingress": {"annotations": {snippet: "location /x { return 200; }"}}})
    stalled = stacks.wait_condition("Stalled", "True")
    condition = next(c for c in stalled["status"]["conditions"] if c["type"] == "Stalled")
    assert condition["reason"] == "IngressAnnotationNotAllowed"
    assert snippet in condition["message"] and "spec.ingress.annotations" in condition["message"]
    wait_for(
        "the Warning Event",
        lambda: [
            e
            for e in stacks.core.list_namespaced_event(stacks.namespace).items
            if e.reason == "IngressAnnotationNotAllowed" and e.type == "Warning"
        ],
    )
    after = networking.read_namespaced_ingress("shop-web", stacks.namespace)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert snippet not in (after.metadata.annotations or {})
    stacks.patch_spec({"ingress": {"annotations": None}})
    stacks.wait_ready()


def tls_data(not_after: datetime.datetime) -> dict[str, str]:
    certificate = certificate_expiring(not_after)
    return {
        "tls.crt": base64.b64encode(certificate).decode(),
        "tls.key": base64.b64encode(b"k").decode(),
    }


def served_until(stacks: Stacks, secret: str) -> datetime.datetime:
    data = stacks.core.read_namespaced_secret(secret, stacks.namespace).data
    pem = base64.b64decode(data["tls.crt"])
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc


def test_the_operators_certificate_is_renewed_before_it_expires(stacks: Stacks) -> None:
    stacks.create()
    stacks.wait_ready()
    now = datetime.datetime.now(datetime.UTC)
    # As if a year had passed: the self-signed certificate expires in two days.
    soon = tls_data(now + datetime.timedelta(days=2))
    stacks.core.patch_namespaced_secret("shop-tls", stacks.namespace, {"data": soon})
    # Secrets are read again each resync (30 s here).
    wait_for(
        "the renewed certificate",
        lambda: served_until(stacks, "shop-tls") > now + datetime.timedelta(days=300),
        timeout=90,
        interval=1,
    )
    events = stacks.core.list_namespaced_event(
        stacks.namespace, field_selector="involvedObject.kind=DjangoStack"
    ).items
    renewed = [e for e in events if e.reason == "CertificateRenewed"]
    assert len(renewed) == 1 and "expires at" in renewed[0].message
    assert stacks.condition("TLSReady")["status"] == "True"


def test_an_expired_certificate_in_use_turns_tls_ready_false(stacks: Stacks) -> None:
    now = datetime.datetime.now(datetime.UTC)
    stacks.core.create_namespaced_secret(
        stacks.namespace,
        {"metadata": {"name": "bought"}, "type": "kubernetes.io/tls",
         "data": tls_data(now - datetime.timedelta(hours=1))},
    )  # fmt: skip
    stacks.create(ingress={"host": "shop.example.com", "tls": {"secretName": "bought"}})
    expired = stacks.wait_condition("TLSReady", "False", timeout=120)
    tls = next(c for c in expired["status"]["conditions"] if c["type"] == "TLSReady")
    assert tls["reason"] == "CertificateExpired"
    assert stacks.condition("Ready")["status"] == "False"
    # The user's certificate is theirs: reported, never replaced.
    assert served_until(stacks, "bought") < now
    renewed = tls_data(now + datetime.timedelta(days=90))
    stacks.core.patch_namespaced_secret("bought", stacks.namespace, {"data": renewed})
    stacks.wait_ready(timeout=120)
