"""The control loop under faults and bad input, against the real API server.

Every test here counts (attempts, writes, Jobs) rather than times anything; each fault is
bounded and stops by itself.
"""

from __future__ import annotations

import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from djangostack_devcluster.cluster import LocalCluster
from djangostack_operator.controller import Options, Runtime
from djangostack_operator.kube import Kube
from djangostack_operator.render import meta
from tests.cluster.conftest import NamespaceReaper, fresh_namespace
from tests.kube_helpers import wait_for, wait_gone
from tests.operator_process import OperatorProcess
from tests.stacks import Stacks

SLOW_JOBS = {"pod-complete.stage.kwok.x-k8s.io/delay": "2s"}


@pytest.fixture
def solo_stacks(api_client: client.ApiClient, solo_namespace: str) -> Stacks:
    return Stacks(api_client, solo_namespace)


@pytest.fixture
def deny_cronjobs(
    api_client: client.ApiClient, solo_namespace: str
) -> Iterator[Callable[[], None]]:
    """A ValidatingAdmissionPolicy that refuses every CronJob in the test's namespace, as a
    cluster's policy engine or webhook would; calling the fixture lifts it."""
    admission = client.AdmissionregistrationV1Api(api_client)
    name = f"deny-cronjobs-{uuid.uuid4().hex[:6]}"
    admission.create_validating_admission_policy(
        {
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["batch"],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["cronjobs"],
                        }
                    ]
                },
                "validations": [
                    {"expression": "false", "message": "CronJobs are not allowed in this namespace"}
                ],
            },
        }
    )
    admission.create_validating_admission_policy_binding(
        {
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": solo_namespace}
                    }
                },
            },
        }
    )
    batch = client.BatchV1Api(api_client)
    probe = {
        "metadata": {"name": "probe"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "x:1"}]}}}},
        },
    }  # fmt: skip

    def denied() -> bool:
        try:
            batch.create_namespaced_cron_job(solo_namespace, probe, dry_run="All")
        except ApiException as error:
            return "not allowed" in str(error.body)
        return False

    wait_for("the admission policy to take effect", denied)
    lifted = False

    def lift() -> None:
        nonlocal lifted
        if not lifted:
            admission.delete_validating_admission_policy_binding(name)
            admission.delete_validating_admission_policy(name)
            lifted = True
        wait_for("the admission policy to be lifted", lambda: not denied())

    try:
        yield lift
    finally:
        if not lifted:
            lift()


def test_a_child_the_api_server_refuses_stalls_the_stack_by_name_with_few_attempts(
    solo_stacks: Stacks, solo_operator: Any, deny_cronjobs: Callable[[], None]
) -> None:
    operator = solo_operator()
    solo_stacks.create()
    stalled = solo_stacks.wait_condition("Stalled", "True")
    condition = next(c for c in stalled["status"]["conditions"] if c["type"] == "Stalled")
    assert condition["reason"] == "ChildRejected"
    assert "CronJob shop-backup" in condition["message"]
    assert "CronJobs are not allowed in this namespace" in condition["message"]
    assert stalled["status"]["phase"] == "Stalled"
    # The other children were written all the same.
    assert solo_stacks.apps.read_namespaced_stateful_set("shop-postgres", solo_stacks.namespace)
    events = solo_stacks.core.list_namespaced_event(
        solo_stacks.namespace, field_selector="involvedObject.kind=DjangoStack"
    ).items
    assert any(e.reason == "ChildRejected" and "CronJob shop-backup" in e.message for e in events)
    assert "CronJob shop-backup" in operator.log()
    # Retries back off: few attempts in half a minute, not a hot loop.
    before = operator.reconciles("error")
    time.sleep(30)
    attempts = operator.reconciles("error") - before
    assert 1 <= attempts <= 6, attempts
    # Once the policy is lifted, the next retry (within the backoff cap) repairs the stack.
    deny_cronjobs()
    solo_stacks.wait_ready(timeout=120)
    assert solo_stacks.condition("Stalled")["status"] == "False"


def test_a_namespace_deleted_while_its_stack_reconciles_gives_no_hot_loop_and_no_deafness(
    kubeconfig: Path,
    api_client: client.ApiClient,
    namespace_reaper: NamespaceReaper,
    djangostack_crd: dict[str, Any],
    tmp_path: Path,
) -> None:
    prefix = f"ns-{uuid.uuid4().hex[:4]}-"
    operator = OperatorProcess(kubeconfig, tmp_path / "operator.log", [f"{prefix}*"]).start()
    try:
        with fresh_namespace(namespace_reaper, "doomed", prefix=prefix) as doomed:
            stacks = Stacks(api_client, doomed)
            stacks.create()
            wait_for(
                "the first children",
                lambda: stacks.apps.list_namespaced_stateful_set(doomed).items,
            )
        # fresh_namespace deleted it: wait until it is really gone.
        wait_gone(f"namespace {doomed}", lambda: stacks.core.read_namespace(doomed), timeout=180)
        errors = operator.reconciles("error")
        assert errors <= 10, errors
        # And the operator still serves a namespace made afterwards.
        with fresh_namespace(namespace_reaper, "after", prefix=prefix) as after:
            later = Stacks(api_client, after)
            later.create()
            later.wait_ready()
        assert operator.reconciles("error") - errors <= 2
    finally:
        operator.stop()


def _release_jobs(stacks: Stacks) -> Counter[str]:
    """How many migrations Jobs exist per release hash."""
    return Counter(
        job.metadata.annotations.get(meta.RELEASE_HASH, "") for job in stacks.jobs("shop-migrate-")
    )


def test_operator_sigkilled_at_random_moments_through_spec_changes_converges(
    solo_stacks: Stacks, solo_operator: Any
) -> None:
    seed = random.randrange(1_000_000)
    print(f"seed {seed}")  # to replay a failure
    rng = random.Random(seed)
    operator = solo_operator()
    solo_stacks.create(podAnnotations=SLOW_JOBS)
    changes: list[dict[str, Any]] = [
        {"web": {"replicas": 3}},
        {"image": "registry.example.com/shop:2.0.0"},
        {"workers": [{"name": "default"}, {"name": "mail", "queues": ["mail"]}]},
        {"image": "registry.example.com/shop:3.0.0", "web": {"replicas": 1}},
        {"workers": [{"name": "mail", "queues": ["mail"]}]},
    ]
    for change in changes:
        solo_stacks.patch_spec(change)
        time.sleep(rng.uniform(0.1, 2.5))
        operator.kill()
        operator = solo_operator()
    stack = solo_stacks.wait_ready(timeout=120)
    assert stack["status"]["releasedImage"] == "registry.example.com/shop:3.0.0"
    deployments = {
        d.metadata.name
        for d in solo_stacks.apps.list_namespaced_deployment(solo_stacks.namespace).items
        if d.metadata.deletion_timestamp is None
    }
    assert deployments == {"shop-web", "shop-worker-mail", "shop-beat"}
    web = solo_stacks.apps.read_namespaced_deployment("shop-web", solo_stacks.namespace)
    assert web.spec.replicas == 1
    for name in deployments:
        assert solo_stacks.image_of(name) == "registry.example.com/shop:3.0.0"
    # One migrations Job per release: never two for the same release hash.
    jobs = _release_jobs(solo_stacks)
    assert jobs and max(jobs.values()) == 1, jobs
    # Nothing orphaned: every labelled child is owned by the stack.
    uid = stack["metadata"]["uid"]
    for item in solo_stacks.apps.list_namespaced_deployment(solo_stacks.namespace).items:
        assert [o.uid for o in item.metadata.owner_references] == [uid]


def test_operator_converges_after_the_api_server_returns_without_a_restart(
    local_cluster: LocalCluster, solo_stacks: Stacks, solo_operator: Any
) -> None:
    operator = solo_operator()
    solo_stacks.create()
    solo_stacks.wait_ready()
    pid = operator.process.pid if operator.process else None
    solo_stacks.patch_spec({"web": {"replicas": 3}})
    local_cluster.stop_apiserver()
    try:
        time.sleep(30)
    finally:
        local_cluster.start_apiserver()
    # After its return the change is rolled out and the status says so, by the same process.
    # (The deadline is generous: the controllers' and kwok's own watches back off during the
    # outage and take up to half a minute to come back; the operator's retry is capped too.)
    wait_for(
        "web to have 3 replicas",
        lambda: (
            solo_stacks.apps.read_namespaced_deployment(
                "shop-web", solo_stacks.namespace
            ).spec.replicas
            == 3
        ),
        timeout=90,
    )
    solo_stacks.wait_ready(timeout=120)
    assert operator.process is not None and operator.process.pid == pid
    assert operator.process.poll() is None
    assert operator.healthy()


def test_healthy_stacks_reach_ready_beside_broken_ones(
    kubeconfig: Path,
    api_client: client.ApiClient,
    namespace_reaper: NamespaceReaper,
    djangostack_crd: dict[str, Any],
    tmp_path: Path,
) -> None:
    """Broken stacks (their external database Secret never appears) do not starve the
    healthy ones: every healthy stack becomes Ready. (bench/operator_bench.py --broken
    measures how much slower 50 healthy stacks get beside 10 broken ones.)"""
    with fresh_namespace(namespace_reaper, "fleet", prefix="fleet-") as name:
        operator = OperatorProcess(kubeconfig, tmp_path / "operator.log", [name]).start()
        try:
            stacks = Stacks(api_client, name)
            for index in range(5):
                stacks.create(
                    f"broken-{index}",
                    database={"external": {"urlSecretRef": {"name": "absent", "key": "url"}}},
                )
            for index in range(20):
                stacks.create(f"ok-{index}")
            for index in range(20):
                stacks.wait_ready(f"ok-{index}", timeout=300)
            for index in range(5):
                assert stacks.condition("Stalled", f"broken-{index}")["reason"] == "SecretMissing"
            assert operator.healthy()
        finally:
            operator.stop()


def _holder(api_client: client.ApiClient, namespace: str, name: str) -> str | None:
    try:
        lease = client.CoordinationV1Api(api_client).read_namespaced_lease(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return str(lease.spec.holder_identity) if lease.spec.holder_identity else None


def test_two_replicas_one_leads_and_the_other_takes_over_when_it_dies(
    kubeconfig: Path,
    api_client: client.ApiClient,
    solo_stacks: Stacks,
    tmp_path: Path,
) -> None:
    namespace = solo_stacks.namespace
    args = ("--leader-elect", "--lease-name=djangostack-test", f"--lease-namespace={namespace}")
    replicas = [
        OperatorProcess(kubeconfig, tmp_path / f"replica-{i}.log", [namespace], extra_args=args)
        for i in range(2)
    ]
    first = replicas[0].start()
    identity = f"{socket.gethostname()}-{first.process.pid if first.process else 0}"
    wait_for("the first replica to lead", lambda: _holder(api_client, namespace,
             "djangostack-test") == identity)  # fmt: skip
    second = replicas[1].start()
    try:
        solo_stacks.create()
        solo_stacks.wait_ready()
        assert second.write_requests() == 0, "the standby wrote"
        first.kill()
        successor = f"{socket.gethostname()}-{second.process.pid if second.process else 0}"
        wait_for(
            "the standby to take the Lease",
            lambda: _holder(api_client, namespace, "djangostack-test") == successor,
            timeout=60,
        )
        # It takes over a converged stack: nothing the old leader wrote is written again.
        wait_for("the new leader's first resync", lambda: second.reconciles() > 0, timeout=60)
        assert second.write_requests() == 0
        solo_stacks.patch_spec({"web": {"replicas": 3}})
        wait_for(
            "web to have 3 replicas",
            lambda: (
                solo_stacks.apps.read_namespaced_deployment("shop-web", namespace).spec.replicas
                == 3
            ),
        )
        solo_stacks.wait_ready()
    finally:
        for replica in replicas:
            replica.kill()


# Values the CRD lets through (it checks only their shape) and a child's API would refuse.
ONLY_THE_MODELS_KNOW = [
    ({"backup": {"schedule": "99 99 * * *"}}, {"backup": {"schedule": "0 3 * * *"}},
     "spec.backup.schedule: must be a cron schedule the CronJob API accepts: minute field"),
    ({"backup": {"schedule": "0 3 * * 7"}}, {"backup": {"schedule": "0 3 * * 0"}},
     "spec.backup.schedule: must be a cron schedule the CronJob API accepts: day of week"),
    ({"backup": {"timeZone": "Mars/Olympus_Mons"}}, {"backup": {"timeZone": "UTC"}},
     "spec.backup.timeZone: Mars/Olympus_Mons is not an IANA time zone"),
    ({"web": {"resources": {"requests": {"cpu": "1e100"}}}},
     {"web": {"resources": {"requests": {"cpu": "1"}}}},
     "spec.web.resources.requests.cpu: '1e100' is too large"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("bad", "fixed", "message"), ONLY_THE_MODELS_KNOW, ids=["cron", "sunday-7", "zone", "quantity"]
)
def test_a_value_a_child_api_would_refuse_is_refused_before_any_write(
    solo_stacks: Stacks,
    solo_operator: Any,
    bad: dict[str, Any],
    fixed: dict[str, Any],
    message: str,
) -> None:
    operator = solo_operator()
    solo_stacks.create(**bad)  # the CRD lets it through
    stalled = solo_stacks.wait_condition("Stalled", "True")
    condition = next(c for c in stalled["status"]["conditions"] if c["type"] == "Stalled")
    assert condition["reason"] == "InvalidSpec"
    assert condition["message"].startswith(message), condition["message"]
    assert solo_stacks.condition("Ready")["status"] == "False"
    # Nothing was written but the status: not a Secret, not a child.
    assert list(solo_stacks.resource_versions()) == ["DjangoStack/shop"]
    assert operator.reconciles("error") == 0
    # Fixing the field brings the stack up.
    solo_stacks.patch_spec(fixed)
    solo_stacks.wait_ready()


def test_the_health_check_fails_when_the_stack_cache_stays_behind_the_api_server(
    api_client: client.ApiClient, solo_stacks: Stacks
) -> None:
    """The watch audit, on a runtime whose cache no watch feeds (a deaf watch)."""
    runtime = Runtime(Options(namespaces=(solo_stacks.namespace,), workers=0), Kube(api_client))
    created = solo_stacks.create()
    runtime.watch_audit.audit()
    assert runtime.health()["workers"] == 0  # one audit behind is only a lagging event
    runtime.watch_audit.audit()
    with pytest.raises(RuntimeError, match="watch is behind"):
        runtime.health()
    # A cache that has the stack's current version is healthy again.
    runtime.cache.put_stack(created)
    runtime.watch_audit.audit()
    runtime.watch_audit.audit()
    assert runtime.watch_audit.deaf == []


def test_an_operator_with_a_namespace_pattern_serves_a_namespace_made_as_it_starts(
    kubeconfig: Path,
    api_client: client.ApiClient,
    namespace_reaper: NamespaceReaper,
    djangostack_crd: dict[str, Any],
    tmp_path: Path,
) -> None:
    """kopf's namespace scanning now and then missed such a namespace for good; patterns are
    now watched cluster-wide and matched by the operator. Five starts, five namespaces."""
    for attempt in range(5):
        prefix = f"pat-{uuid.uuid4().hex[:4]}-"
        log = tmp_path / f"operator-{attempt}.log"
        operator = OperatorProcess(kubeconfig, log, [f"{prefix}*"]).start()
        try:
            with fresh_namespace(namespace_reaper, "fresh", prefix=prefix) as name:
                stacks = Stacks(api_client, name)
                stacks.create()
                wait_for(f"a status in {name}", lambda s=stacks: s.get().get("status"), timeout=30)
        finally:
            operator.stop()
