"""The whole product on the real node, as its users see it.

The operator runs as the Helm chart installs it (a pod of the image built from the Dockerfile);
the stack is `manifests/samples/minimal.yaml` (the reference app's image built here) plus a
2-second beat heartbeat and one setting from a ConfigMap; every request goes over HTTPS through
Traefik, checked against the certificate of the stack's TLS Secret. The tests run in file
order on one stack, each leaving it Ready: serving, the API, migrations, Celery and beat, a
release under traffic, a failing release, backups and restore, config changes, a certificate
from cert-manager, autoscaling on real CPU metrics (metrics-server), deletion.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client

from djangostack_devcluster import certmanager, images, topology
from djangostack_devcluster.cluster import LocalCluster
from djangostack_devcluster.ingressclient import IngressClient
from djangostack_operator.secretgen import self_signed_certificate
from djangostack_operator.spec import BACKUP_NOW_ANNOTATION, GROUP, PLURAL, VERSION, StackNames
from djangostack_operator.vocabulary import FIELD_MANAGER
from tests.cluster.conftest import NamespaceReaper, fresh_namespace
from tests.cluster.test_real_node import restricted_pod, wait_ready
from tests.factories import REPO, SAMPLES
from tests.infrastructure import missing_infrastructure
from tests.kube_helpers import kubectl, wait_for, wait_gone
from tests.stacks import Stacks
from tests.traffic import TrafficLoop

CHART = REPO / "charts" / "djangostack-operator"
NAME = "shop"
NAMES = StackNames(NAME)
FIRST_IMAGE = images.APP.name.removeprefix("docker.io/")
NEXT_IMAGE = images.APP_NEXT.name.removeprefix("docker.io/")
BROKEN_IMAGE = images.APP_BROKEN.name.removeprefix("docker.io/")
SETTINGS = "shop-settings"  # the ConfigMap the stack reads GREETING from


def sample_stack() -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((SAMPLES / "minimal.yaml").read_text())
    assert body["metadata"]["name"] == NAME and body["spec"]["image"] == FIRST_IMAGE
    body["spec"]["env"] = [
        {"name": "HEARTBEAT_INTERVAL_SECONDS", "value": "2"},
        {"name": "GREETING",
         "valueFrom": {"configMapKeyRef": {"name": SETTINGS, "key": "greeting"}}},
    ]  # fmt: skip
    return body


@dataclass
class EndToEnd:
    cluster: LocalCluster
    namespace: str
    operator_namespace: str
    core: client.CoreV1Api
    batch: client.BatchV1Api
    stacks: Stacks
    anonymous: IngressClient  # trusts only the stack's certificate
    api: IngressClient  # the same, with a user's token
    first_answer_status: int  # of /healthz, asked the moment the stack said Ready

    def kubectl(self, *args: str) -> str:
        result = kubectl(self.cluster, "-n", self.namespace, *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def psql(self, query: str) -> str:
        """A query as the app's role, in the managed PostgreSQL's pod (local socket)."""
        return self.kubectl(
            "exec", f"{NAMES.postgres}-0", "--", "psql", "-U", "app", "-d", "app", "-tAc", query
        ).strip()

    def pods(self, component: str) -> list[Any]:
        selector = f"app.kubernetes.io/instance={NAME},app.kubernetes.io/component={component}"
        return list(self.core.list_namespaced_pod(self.namespace, label_selector=selector).items)

    def wait_serving(self, image: str, timeout: float = 300) -> dict[str, Any]:
        """Ready on `image`, with every web pod on it."""

        def done() -> dict[str, Any] | None:
            stack = self.stacks.wait_ready(NAME, timeout=timeout)
            if stack["status"].get("releasedImage") != image:
                return None
            web = [p for p in self.pods("web") if p.metadata.deletion_timestamp is None]
            if not web or any(p.spec.containers[0].image != image for p in web):
                return None
            return stack

        return wait_for(f"{NAME} Ready on {image}", done, timeout=timeout, interval=1)


def tls_certificate(core: client.CoreV1Api, namespace: str) -> str:
    secret = core.read_namespaced_secret(NAMES.tls_secret, namespace)
    return base64.b64decode(secret.data["tls.crt"]).decode()


@pytest.fixture(scope="module")
def e2e(
    local_cluster: LocalCluster,
    namespace_reaper: NamespaceReaper,
    api_client: client.ApiClient,
    djangostack_crd: dict[str, Any],
) -> Iterator[EndToEnd]:
    core = client.CoreV1Api(api_client)
    helm = [str(local_cluster.tools.helm), f"--kubeconfig={local_cluster.kubeconfig}"]
    real = topology.REAL_NODE_TYPE
    with (
        fresh_namespace(namespace_reaper, "e2e-operator", node_type=real) as operator_ns,
        fresh_namespace(namespace_reaper, "e2e", node_type=real) as namespace,
    ):
        installed = subprocess.run(
            [*helm, "install", "e2e", str(CHART), "--namespace", operator_ns,
             "--set", f"watchNamespaces={{{namespace}}}", "--set", "replicas=1",
             "--wait", "--timeout=180s"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert installed.returncode == 0, installed.stderr
        try:
            core.create_namespaced_config_map(
                namespace, {"metadata": {"name": SETTINGS}, "data": {"greeting": "hello"}}
            )
            stacks = Stacks(api_client, namespace)
            stacks.objects.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, sample_stack()
            )
            stacks.wait_ready(NAME, timeout=300)
            ca = tls_certificate(core, namespace)
            host = yaml.safe_load((SAMPLES / "minimal.yaml").read_text())["spec"]["ingress"]
            anonymous = IngressClient(host["host"], ca)
            first = anonymous.status("/healthz")
            e2e = EndToEnd(
                local_cluster, namespace, operator_ns, core, client.BatchV1Api(api_client), stacks,
                anonymous, anonymous, first,
            )  # fmt: skip
            token = e2e.kubectl(
                "exec",
                f"deploy/{NAMES.web}",
                "--",
                "python",
                "manage.py",
                "create_api_token",
                "e2e",
            ).strip()
            e2e.api = anonymous.with_token(token)
            yield e2e
        finally:
            subprocess.run([*helm, "uninstall", "e2e", "--namespace", operator_ns],
                           capture_output=True, check=False)  # fmt: skip


def test_ready_means_serving_https_with_the_stacks_own_certificate(e2e: EndToEnd) -> None:
    # Asked the moment Ready=True was read; the client trusts only the Secret's certificate.
    assert e2e.first_answer_status == 200
    ready = e2e.anonymous.get("/readyz")
    assert ready.status == 200
    body = ready.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True, "cache": True, "broker": True,
    }  # fmt: skip
    # A client that trusts another certificate is refused by TLS itself.
    other_cert, _ = self_signed_certificate("other.example.com")
    other = IngressClient(e2e.anonymous.host, other_cert.decode())
    assert other.status("/healthz") == 0


def test_the_api_through_the_ingress(e2e: EndToEnd) -> None:
    created = e2e.api.request("POST", "/api/items/", {"title": "first", "body": "one two"})
    assert created.status == 201, created.body
    item = created.json()
    assert item["owner"] == "e2e"
    path = f"/api/items/{item['id']}/"
    listed = e2e.api.get("/api/items/").json()
    assert [i["id"] for i in listed["results"]] == [item["id"]]
    updated = e2e.api.request("PATCH", path, {"title": "renamed"})
    assert (updated.status, updated.json()["title"]) == (200, "renamed")
    assert e2e.api.request("DELETE", path).status == 204
    assert e2e.api.get(path).status == 404
    refused = e2e.anonymous.request("POST", "/api/items/", {"title": "anonymous"})
    assert refused.status == 401
    assert e2e.api.get("/api/items/").json()["count"] == 0
    # Prometheus scrapes pods directly; through the Ingress /metrics does not exist.
    assert e2e.anonymous.get("/metrics").status == 404


# Connect and close; exit 0 when the connection opened. A dropped SYN times out (refused).
CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close()"
LISTEN_PORT = 8080


def connects(e2e: EndToEnd, namespace: str, pod: str, host: str, port: int) -> bool:
    result = kubectl(e2e.cluster, "-n", namespace, "exec", pod, "--",
                     "python", "-c", CONNECT, host, str(port))  # fmt: skip
    return result.returncode == 0


def test_network_policies_admit_the_stack_and_refuse_everyone_else(
    e2e: EndToEnd, namespace_reaper: NamespaceReaper
) -> None:
    """Enforced on the real node (kube-network-policies): the stack's own pods reach its
    PostgreSQL and Redis; a pod of the namespace that is not the stack's, and a pod of another
    namespace, reach none of its pods; the app's pods reach nothing outside the stack. The
    strangers reach each other, so the refusals are the policies' and not a broken network."""
    listener = ["python", "-m", "http.server", str(LISTEN_PORT)]
    with fresh_namespace(
        namespace_reaper, "e2e-stranger", node_type=topology.REAL_NODE_TYPE
    ) as other:
        strangers = {e2e.namespace: "stranger", other: "outsider"}
        for namespace, name in strangers.items():
            e2e.core.create_namespaced_pod(namespace, restricted_pod(
                name, FIRST_IMAGE, listener, labels={"app": name}, port=LISTEN_PORT))  # fmt: skip
        for namespace, name in strangers.items():
            wait_ready(e2e.core, namespace, name)
        outsider_ip = e2e.core.read_namespaced_pod("outsider", other).status.pod_ip
        stranger_ip = e2e.core.read_namespaced_pod("stranger", e2e.namespace).status.pod_ip
        (web,) = [p for p in e2e.pods("web") if p.metadata.deletion_timestamp is None][:1]
        postgres_ip = e2e.core.read_namespaced_pod(
            f"{NAMES.postgres}-0", e2e.namespace
        ).status.pod_ip
        redis_ip = e2e.core.read_namespaced_pod(f"{NAMES.redis}-0", e2e.namespace).status.pod_ip
        service = f"{NAMES.postgres}.{e2e.namespace}.svc.cluster.local"
        targets = {
            "postgres pod": (postgres_ip, 5432),
            "postgres Service": (service, 5432),
            "redis pod": (redis_ip, 6379),
            "web pod": (web.status.pod_ip, 8000),
        }
        # Both directions work between pods no policy selects.
        assert connects(e2e, e2e.namespace, "stranger", outsider_ip, LISTEN_PORT)
        assert connects(e2e, other, "outsider", stranger_ip, LISTEN_PORT)
        # The stack's own pods reach its data services.
        assert connects(e2e, e2e.namespace, web.metadata.name, postgres_ip, 5432)
        assert connects(e2e, e2e.namespace, web.metadata.name, redis_ip, 6379)
        opened = [
            f"{name} -> {target}"
            for namespace, name in strangers.items()
            for target, (host, port) in targets.items()
            if connects(e2e, namespace, name, host, port)
        ]
        assert opened == []
        # The app's egress ends at the stack (appEgress: StackOnly).
        escaped = [ip for ip in (outsider_ip, stranger_ip)
                   if connects(e2e, e2e.namespace, web.metadata.name, ip, LISTEN_PORT)]  # fmt: skip
        assert escaped == []
        for namespace, name in strangers.items():
            e2e.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)


def test_migrations_ran_in_the_jobs_pod_before_any_web_pod_started(e2e: EndToEnd) -> None:
    (job,) = e2e.stacks.jobs(f"{NAME}-migrate-")
    assert job.status.succeeded == 1
    (pod,) = e2e.core.list_namespaced_pod(
        e2e.namespace, label_selector=f"job-name={job.metadata.name}"
    ).items
    log = e2e.core.read_namespaced_pod_log(pod.metadata.name, e2e.namespace)
    assert "Applying items.0001_initial... OK" in log
    assert "Applying health.0001_initial... OK" in log
    for web in e2e.pods("web"):
        started = web.status.container_statuses[0].state.running.started_at
        assert started >= job.status.completion_time, web.metadata.name
    tables = e2e.psql("SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname='public'")
    assert {"items_item", "health_heartbeat", "authtoken_token"} <= set(tables.split(","))


def test_celery_enriches_items_over_the_password_protected_redis_and_beat_ticks(
    e2e: EndToEnd,
) -> None:
    created = e2e.api.request("POST", "/api/items/", {"title": "count these four words"})
    assert created.status == 201, created.body
    path = f"/api/items/{created.json()['id']}/"

    def enriched() -> dict[str, Any] | None:
        item = e2e.api.get(path).json()
        return item if item["enriched_at"] else None

    assert wait_for("the worker's enrichment", enriched, timeout=60)["word_count"] == 4

    def heartbeats() -> int:
        return int(e2e.anonymous.get("/api/status/").json()["heartbeat"]["count"])

    first = wait_for("a first heartbeat", heartbeats, timeout=60)
    wait_for("beat's next ticks", lambda: heartbeats() >= first + 2, timeout=60)
    # The broker really requires the Secret's password: without it (redis-cli reads it from
    # REDISCLI_AUTH, which the container has for its probes) Redis refuses.
    redis_cli = ("exec", f"{NAMES.redis}-0", "--", "env", "-u", "REDISCLI_AUTH", "redis-cli")
    assert "NOAUTH" in e2e.kubectl(*redis_cli, "PING")


class BeatSampler:
    """Counts the beat pods (every phase, terminating ones too) at each call."""

    def __init__(self, e2e: EndToEnd) -> None:
        self.e2e = e2e
        self.samples: list[int] = []
        self.lock = threading.Lock()

    def sample(self) -> None:
        with self.lock:
            self.samples.append(len(self.e2e.pods("beat")))


def test_a_release_under_traffic_migrates_first_and_fails_no_request(e2e: EndToEnd) -> None:
    beat = BeatSampler(e2e)
    started = datetime.datetime.now(datetime.UTC)
    with TrafficLoop(e2e.api, on_each=beat.sample) as traffic:
        e2e.stacks.patch_spec({"image": NEXT_IMAGE}, NAME)
        e2e.wait_serving(NEXT_IMAGE)
        # Some more traffic once every pod runs the new release.
        wait_for("requests after the release", lambda: len(traffic.answers) > 20, timeout=30)
        count = len(traffic.answers)
        wait_for("more requests", lambda: len(traffic.answers) > count + 20, timeout=30)
    print(f"\nrelease {FIRST_IMAGE} -> {NEXT_IMAGE}: {traffic.summary()}")
    assert traffic.failures == [], traffic.failures[:5]
    jobs = [j for j in e2e.stacks.jobs(f"{NAME}-migrate-")
            if j.spec.template.spec.containers[0].image == NEXT_IMAGE]  # fmt: skip
    (job,) = jobs
    assert job.metadata.creation_timestamp >= started.replace(microsecond=0)
    migrated = job.status.completion_time
    new = [a for a in traffic.answers if a.release == NEXT_IMAGE]
    old = [a for a in traffic.answers if a.release == FIRST_IMAGE]
    assert new and old
    # No request is answered by the new image before its migration finished (the Job's
    # completion time has whole seconds: compare with the answer's time truncated alike).
    assert min(a.at for a in new).replace(microsecond=0) >= migrated
    assert e2e.psql("SELECT to_regclass('items_release_note') IS NOT NULL") == "t"
    # Beat is never doubled (its Deployment recreates: the old pod is gone before the new).
    assert max(beat.samples) == 1
    assert len(e2e.pods("beat")) == 1
    print(f"beat pods at {len(beat.samples)} samples: {sorted(set(beat.samples))}")


def test_a_failing_release_stalls_and_the_previous_one_keeps_serving(e2e: EndToEnd) -> None:
    with TrafficLoop(e2e.api) as traffic:
        e2e.stacks.patch_spec({"image": BROKEN_IMAGE}, NAME)
        stalled = e2e.stacks.wait_condition("Stalled", "True", NAME, timeout=180)
        wait_for("requests while stalled", lambda: len(traffic.answers) > 40, timeout=60)
    print(f"\nfailing release {BROKEN_IMAGE}: {traffic.summary()}")
    condition = next(c for c in stalled["status"]["conditions"] if c["type"] == "Stalled")
    (job,) = [j for j in e2e.stacks.jobs(f"{NAME}-migrate-")
              if j.spec.template.spec.containers[0].image == BROKEN_IMAGE]  # fmt: skip
    assert condition["reason"] == "MigrationFailed"
    assert job.metadata.name in condition["message"]
    assert traffic.failures == [], traffic.failures[:5]
    assert {a.release for a in traffic.answers if a.release} == {NEXT_IMAGE}
    # Fixing the spec (back to the release that works) recovers.
    e2e.stacks.patch_spec({"image": NEXT_IMAGE}, NAME)
    e2e.wait_serving(NEXT_IMAGE)
    assert e2e.stacks.condition("Stalled", NAME)["status"] == "False"


def backup_files(e2e: EndToEnd) -> dict[str, Path]:
    """The dumps in the backup volume (a directory of this machine: the node is local)."""
    claim = e2e.core.read_namespaced_persistent_volume_claim(NAMES.backup_pvc, e2e.namespace)
    volume = e2e.core.read_persistent_volume(claim.spec.volume_name)
    folder = Path(volume.spec.host_path.path)
    return {path.name: path for path in sorted(folder.glob("backup-*.sql.gz"))}


def backup_now(e2e: EndToEnd, request: str) -> None:
    before = {j.metadata.name for j in e2e.stacks.jobs(NAMES.backup)}
    e2e.stacks.objects.patch_namespaced_custom_object(
        GROUP, VERSION, e2e.namespace, PLURAL, NAME,
        {"metadata": {"annotations": {BACKUP_NOW_ANNOTATION: request}}},
    )  # fmt: skip
    wait_job_done(e2e, before)


def wait_job_done(e2e: EndToEnd, before: set[str]) -> None:
    def done() -> bool:
        new = [j for j in e2e.stacks.jobs(NAMES.backup) if j.metadata.name not in before]
        assert all(not j.status.failed for j in new), new
        return bool(new) and all(j.status.succeeded for j in new)

    wait_for("the backup Job", done, timeout=120)


def titles(e2e: EndToEnd) -> set[str]:
    return {item["title"] for item in e2e.api.get("/api/items/").json()["results"]}


def test_backups_on_real_pods_and_a_restore_through_the_ingress(e2e: EndToEnd) -> None:
    e2e.stacks.patch_spec({"backup": {"retain": 2}}, NAME)
    e2e.stacks.wait_ready(NAME)
    for title in ("kept one", "kept two"):
        assert e2e.api.request("POST", "/api/items/", {"title": title}).status == 201
    expected = titles(e2e)

    backup_now(e2e, "first")
    (first,) = backup_files(e2e)
    dump = gzip.decompress(backup_files(e2e)[first].read_bytes()).decode()
    assert backup_files(e2e)[first].stat().st_size > 1000
    for table in ("items_item", "health_heartbeat", "items_release_note"):
        assert f"CREATE TABLE public.{table}" in dump
    assert "kept one" in dump

    # The CronJob's own Job, as `kubectl create job --from=cronjob/...` makes it.
    before = {j.metadata.name for j in e2e.stacks.jobs(NAMES.backup)}
    e2e.kubectl("create", "job", f"{NAMES.backup}-manual", f"--from=cronjob/{NAMES.backup}")
    wait_job_done(e2e, before)
    assert len(backup_files(e2e)) == 2
    scheduled = max(backup_files(e2e))
    backup_now(e2e, "third")
    # Retention (2) counts the CronJob's dump: the oldest goes, the scheduled one stays.
    assert first not in backup_files(e2e) and scheduled in backup_files(e2e)
    assert len(backup_files(e2e)) == 2

    for item in e2e.api.get("/api/items/").json()["results"]:
        assert e2e.api.request("DELETE", f"/api/items/{item['id']}/").status == 204
    assert titles(e2e) == set()
    e2e.stacks.patch_spec({"database": {"restoreFrom": scheduled}}, NAME)
    e2e.stacks.wait_condition("Ready", "False", NAME, timeout=60)
    e2e.wait_serving(NEXT_IMAGE)
    (restore,) = e2e.stacks.jobs(NAMES.restore_job(scheduled))
    assert restore.status.succeeded == 1
    assert titles(e2e) == expected


def plugin(e2e: EndToEnd, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    """`kubectl djangostack ...` as a user runs it: kubectl finds the package's
    kubectl-djangostack on the PATH (the virtualenv's bin, where pip installs it)."""
    env = {
        **os.environ,
        "KUBECONFIG": str(e2e.cluster.kubeconfig),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return subprocess.run(
        # The namespace before the command: after `manage NAME --` it would be manage.py's.
        [str(e2e.cluster.tools.kubectl), "djangostack", "-n", e2e.namespace, *args],
        capture_output=True, text=True, check=False, timeout=timeout, env=env,
    )  # fmt: skip


def test_the_kubectl_plugin_on_day_two(e2e: EndToEnd) -> None:
    status = plugin(e2e, "status", NAME)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0] == f"{NAME} in {e2e.namespace}: Ready"
    assert any(line.startswith("Serving:") and NEXT_IMAGE in line for line in lines)
    web_row = next(line for line in lines if line.startswith("web "))
    assert web_row.count("(Running)") == len(e2e.pods("web"))
    # The worker's liveness probe (a Celery ping of its own node) has been passing in the real
    # container all along: no restart (status prints restarts when there are any).
    worker_row = next(line for line in lines if line.startswith("worker/default "))
    assert "(Running)" in worker_row and "restarts" not in worker_row, worker_row
    [worker] = e2e.pods("worker")
    assert worker.spec.containers[0].liveness_probe._exec.command[:2] == ["python", "-c"]

    releases = plugin(e2e, "releases", NAME)
    assert releases.returncode == 0, releases.stderr
    rollouts = releases.stdout.split("\n\n")[0].splitlines()[1:]
    assert NEXT_IMAGE in rollouts[0] and rollouts[0].endswith("serving")
    assert any(FIRST_IMAGE in row for row in rollouts[1:])

    backup = plugin(e2e, "backup", NAME)
    assert backup.returncode == 0, backup.stderr
    file_name, size = backup.stdout.split()[0], backup.stdout.split()[1].strip("(")
    assert file_name in backup_files(e2e)
    assert int(size) == backup_files(e2e)[file_name].stat().st_size

    listed = plugin(e2e, "manage", NAME, "--", "showmigrations", "items")
    assert listed.returncode == 0, listed.stderr
    assert "[X] 0001_initial" in listed.stdout
    unknown = plugin(e2e, "manage", NAME, "--", "no_such_command")
    assert unknown.returncode == 1
    assert "Unknown command: 'no_such_command'" in unknown.stdout + unknown.stderr

    for tier, expected in (("web", f"==> {NAMES.web}-"), ("worker", "default@")):
        logs = plugin(e2e, "logs", NAME, "--tier", tier, "--tail", "2000")
        assert logs.returncode == 0, logs.stderr
        assert expected in logs.stdout, (tier, logs.stdout[-2000:])

    # A restore through the plugin brings back what the backup held, and only that.
    assert e2e.api.request("POST", "/api/items/", {"title": "after the backup"}).status == 201
    before = titles(e2e) - {"after the backup"}
    restored = plugin(e2e, "restore", NAME, file_name, timeout=600)
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith(f"restored {file_name}; {NAME} is Ready on {NEXT_IMAGE}")
    e2e.wait_serving(NEXT_IMAGE)
    assert titles(e2e) == before


def test_a_changed_configmap_rolls_the_pods_for_real(e2e: EndToEnd) -> None:
    def greetings() -> dict[str, str]:
        return {
            pod.metadata.name: e2e.kubectl(
                "exec", pod.metadata.name, "--", "printenv", "GREETING"
            ).strip()
            for pod in e2e.pods("web")
            if pod.metadata.deletion_timestamp is None and pod.status.phase == "Running"
        }

    old = greetings()
    assert set(old.values()) == {"hello"}
    e2e.core.patch_namespaced_config_map(SETTINGS, e2e.namespace, {"data": {"greeting": "hi"}})

    def rolled() -> dict[str, str] | None:
        current = {p.metadata.name for p in e2e.pods("web")}
        if current & set(old) or len(current) != 2:
            return None  # old pods still exist
        found = greetings()
        return found if len(found) == 2 else None

    new = wait_for("web pods with the new value", rolled, timeout=180, interval=1)
    assert set(new.values()) == {"hi"}
    for component in ("worker", "beat"):
        (pod,) = [p for p in e2e.pods(component) if p.metadata.deletion_timestamp is None]
        value = e2e.kubectl("exec", pod.metadata.name, "--", "printenv", "GREETING").strip()
        assert value == "hi", component
    e2e.wait_serving(NEXT_IMAGE)


def served_certificate(host: str) -> bytes:
    """The certificate Traefik presents for `host` (DER), whoever signed it."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    address = ("127.0.0.1", topology.INGRESS_HTTPS_PORT)
    with (
        socket.create_connection(address, timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return tls.getpeercert(binary_form=True) or b""


def test_cert_manager_issues_the_ingress_certificate_and_traefik_serves_it(
    e2e: EndToEnd,
) -> None:
    issuer = {"name": certmanager.SELF_SIGNED_ISSUER, "kind": "ClusterIssuer"}
    # The CRD defaulted selfSigned: one source of certificates at a time.
    e2e.stacks.patch_spec({"ingress": {"tls": {"issuerRef": issuer, "selfSigned": None}}}, NAME)
    objects = e2e.stacks.objects

    def certificate_ready() -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = objects.get_namespaced_custom_object(
                "cert-manager.io", "v1", e2e.namespace, "certificates", NAMES.tls_secret
            )
        except client.ApiException:
            return None
        conditions = {c["type"]: c["status"] for c in found.get("status", {}).get("conditions", [])}
        return found if conditions.get("Ready") == "True" else None

    certificate = wait_for("cert-manager's Certificate", certificate_ready, timeout=120)
    assert certificate["spec"]["secretName"] == NAMES.tls_secret
    assert certificate["spec"]["dnsNames"] == [e2e.anonymous.host]
    secret = e2e.core.read_namespaced_secret(NAMES.tls_secret, e2e.namespace)
    assert secret.metadata.annotations["cert-manager.io/issuer-name"] == issuer["name"]
    issued = x509.load_pem_x509_certificate(base64.b64decode(secret.data["tls.crt"]))
    expected = issued.public_bytes(serialization.Encoding.DER)
    wait_for("Traefik serving cert-manager's certificate",
             lambda: served_certificate(e2e.anonymous.host) == expected, timeout=60)  # fmt: skip
    # And it verifies: a client that trusts exactly that certificate gets the app.
    trusting = IngressClient(
        e2e.anonymous.host, issued.public_bytes(serialization.Encoding.PEM).decode()
    )
    assert trusting.status("/healthz") == 200
    e2e.stacks.wait_ready(NAME)
    e2e.anonymous = trusting
    e2e.api = trusting.with_token(e2e.api.token)


def replicas_owners(deployment: Any) -> set[str]:
    """The field managers that own the Deployment's spec.replicas."""
    owners = set()
    for entry in deployment.metadata.managed_fields or []:
        if "f:replicas" in (entry.fields_v1 or {}).get("f:spec", {}):
            owners.add(entry.manager)
    return owners


def test_web_autoscales_on_real_cpu_metrics_and_the_operator_leaves_replicas_alone(
    e2e: EndToEnd,
) -> None:
    if shutil.which("wrk") is None:
        missing_infrastructure("wrk (Debian package wrk)")
    apps = client.AppsV1Api(e2e.stacks.objects.api_client)
    autoscaling = {"minReplicas": 2, "maxReplicas": 4, "targetCPUUtilization": 50}
    e2e.stacks.patch_spec({"web": {"autoscaling": autoscaling}}, NAME)
    e2e.stacks.wait_ready(NAME, timeout=120)

    def metrics_read() -> bool:
        hpa = client.AutoscalingV2Api(e2e.stacks.objects.api_client)
        current = hpa.read_namespaced_horizontal_pod_autoscaler(NAMES.web, e2e.namespace)
        return any(m.resource and m.resource.current.average_utilization is not None
                   for m in current.status.current_metrics or [])  # fmt: skip

    wait_for("the HPA's first CPU reading (metrics-server)", metrics_read, timeout=120)
    samples: list[int] = []

    def replicas() -> int:
        count = int(apps.read_namespaced_deployment(NAMES.web, e2e.namespace).spec.replicas)
        samples.append(count)
        return count

    # Bounded load through the Ingress: 10-second wrk bursts, at most 12 of them.
    port = topology.INGRESS_HTTPS_PORT
    load = ["wrk", "--threads=2", "--connections=8", "--duration=10s",
            "-H", f"Host: {e2e.api.host}", "-H", f"Authorization: Token {e2e.api.token}",
            f"https://127.0.0.1:{port}/api/items/"]  # fmt: skip
    for _ in range(12):
        subprocess.run(load, capture_output=True, check=True, timeout=60)
        if replicas() > 2:
            break
    peak = replicas()
    assert peak > 2, samples
    wait_for("the scale down after the load", lambda: replicas() == 2, timeout=240, interval=2)
    print(f"\nweb replicas sampled under load and after it: {samples}")
    # Up, then down: never back and forth (the operator writing replicas would make it so).
    turns = sum(1 for a, b, c in zip(samples, samples[1:], samples[2:], strict=False)
                if (b - a) * (c - b) < 0)  # fmt: skip
    assert turns <= 1, samples
    owners = replicas_owners(apps.read_namespaced_deployment(NAMES.web, e2e.namespace))
    assert FIELD_MANAGER not in owners, owners
    e2e.stacks.patch_spec({"web": {"autoscaling": None}}, NAME)
    e2e.wait_serving(NEXT_IMAGE)


def test_deleting_the_stack_keeps_its_data_and_a_new_one_serves_it(e2e: EndToEnd) -> None:
    expected = titles(e2e)
    assert expected
    stack = e2e.stacks.get(NAME)
    assert stack["spec"].get("deletionPolicy", "Retain") == "Retain"
    e2e.stacks.delete(NAME)
    wait_gone(f"DjangoStack {NAME}", lambda: e2e.stacks.get(NAME), timeout=120)
    apps = client.AppsV1Api(e2e.stacks.objects.api_client)
    wait_gone(
        "the web Deployment", lambda: apps.read_namespaced_deployment(NAMES.web, e2e.namespace)
    )
    wait_for("the web pods to go", lambda: not e2e.pods("web"), timeout=120)
    # Retain: the data volumes, the backups and the generated passwords stay.
    claims = {c.metadata.name for c in
              e2e.core.list_namespaced_persistent_volume_claim(e2e.namespace).items}  # fmt: skip
    assert {f"data-{NAMES.postgres}-0", f"data-{NAMES.redis}-0", NAMES.backup_pvc} <= claims
    for secret in (NAMES.postgres_secret, NAMES.redis_secret, NAMES.django_secret):
        e2e.core.read_namespaced_secret(secret, e2e.namespace)

    body = sample_stack()
    body["spec"]["image"] = NEXT_IMAGE
    e2e.stacks.objects.create_namespaced_custom_object(GROUP, VERSION, e2e.namespace, PLURAL, body)
    e2e.wait_serving(NEXT_IMAGE)
    # The same rows, read with the same token: the retained database and passwords.
    assert titles(e2e) == expected


def test_the_operator_pod_met_no_permission_error(e2e: EndToEnd) -> None:
    # Last: the chart's operator did all of the above with exactly the chart's RBAC.
    (pod,) = e2e.core.list_namespaced_pod(e2e.operator_namespace).items
    assert pod.spec.containers[0].image == images.OPERATOR.name.removeprefix("docker.io/")
    assert pod.status.container_statuses[0].restart_count == 0
    log = e2e.core.read_namespaced_pod_log(pod.metadata.name, e2e.operator_namespace)
    assert "Forbidden" not in log
