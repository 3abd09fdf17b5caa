"""Benchmark of a whole stack on the real node, through the Ingress (not a test; it prints
figures). Needs the machine's real node: stop `make demo` / `make cluster-up` first.

It starts its own local cluster (kwok's node and the real node) in a temporary folder,
installs the operator with the Helm chart (the image built from the Dockerfile, one replica),
applies `manifests/samples/minimal.yaml` and measures:

- **node start**: the real node's start, with the image import when the store is cold;
- **apply to first 200**: from `kubectl apply` of the sample until HTTPS through Traefik
  answers `/healthz` 200 (verified against the stack's own certificate);
- **release**: from the `spec.image` change (0.1.0 -> 0.2.0, which adds a migration) until
  the stack is Ready on the new image, with a client loop through the Ingress counting failed
  requests meanwhile;
- **requests per second** through Traefik for `/healthz` and the authenticated items list
  (20 items), with wrk (Debian's; 2 threads, 8 connections, 10 s). wrk runs on the same two
  cores as Traefik, gunicorn and PostgreSQL, and it does not verify TLS certificates (it
  reaches 127.0.0.1 with the stack's Host header).

    .venv/bin/python bench/stack_bench.py           # the node's image store as it is (warm)
    .venv/bin/python bench/stack_bench.py --cold    # empty the node's image store first
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.traffic import TrafficLoop  # noqa: E402

from djangostack_devcluster import images, tools, topology  # noqa: E402
from djangostack_devcluster.cluster import ClusterError, LocalCluster  # noqa: E402
from djangostack_devcluster.ingressclient import IngressClient  # noqa: E402
from djangostack_operator.spec import StackNames  # noqa: E402

SAMPLE = REPO / "manifests" / "samples" / "minimal.yaml"
CHART = REPO / "charts" / "djangostack-operator"
NAMESPACE = "bench"
ITEMS = 20


def stack_json(cluster: LocalCluster, name: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(
        cluster.kubectl("-n", NAMESPACE, "get", "djangostack", name, "-o", "json")
    )
    return result


def ready_on(cluster: LocalCluster, name: str, image: str) -> bool:
    status = stack_json(cluster, name).get("status") or {}
    assert isinstance(status, dict)
    ready = any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])
    )
    return ready and status.get("releasedImage") == image


def wait(what: str, probe: object, timeout: float = 600) -> float:
    """Seconds until `probe()` is true."""
    started = time.monotonic()
    while not probe():  # type: ignore[operator]
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def wrk(host: str, path: str, token: str) -> str:
    port = topology.INGRESS_HTTPS_PORT
    argv = ["wrk", "--threads=2", "--connections=8", "--duration=10s", "--latency",
            "-H", f"Host: {host}", "-H", f"Authorization: Token {token}",
            f"https://127.0.0.1:{port}{path}"]  # fmt: skip
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"\s50%\s+(\S+)", output)
    p99 = re.search(r"\s99%\s+(\S+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return (
        f"{float(rps.group(1)) if rps else 0:.0f} req/s, p50 {p50.group(1) if p50 else '?'}, "
        f"p99 {p99.group(1) if p99 else '?'}, non-2xx {errors.group(1) if errors else 0}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true", help="empty the node's image store first")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bootstrap installs it)")
    toolset = tools.ensure_all()
    images.ensure_all()
    if args.cold:
        shutil.rmtree(tools.cache_dir() / "node" / "containerd", ignore_errors=True)
    sample = yaml.safe_load(SAMPLE.read_text())
    name, host = sample["metadata"]["name"], sample["spec"]["ingress"]["host"]
    names = StackNames(name)
    with tempfile.TemporaryDirectory(prefix="djangostack-stack-bench-") as tmp:
        cluster = LocalCluster(Path(tmp) / "cluster", toolset, real_node=True)
        started = time.monotonic()
        cluster.up()
        node_start = time.monotonic() - started
        try:
            helm = [str(toolset.helm), f"--kubeconfig={cluster.kubeconfig}"]
            subprocess.run(
                [*helm, "install", "bench", str(CHART), "--namespace", "bench-operator",
                 "--create-namespace", "--set", "replicas=1", "--wait", "--timeout=300s"],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            cluster.kubectl("create", "namespace", NAMESPACE)
            applied = time.monotonic()
            cluster.kubectl("-n", NAMESPACE, "apply", "-f", str(SAMPLE))
            secret: dict[str, str] = {}

            def tls_present() -> bool:
                try:
                    raw = cluster.kubectl("-n", NAMESPACE, "get", "secret", names.tls_secret,
                                          "-o", "jsonpath={.data.tls\\.crt}")  # fmt: skip
                except ClusterError:
                    return False  # not made yet
                secret["crt"] = raw
                return bool(raw)

            wait("the TLS Secret", tls_present)
            ingress = IngressClient(host, base64.b64decode(secret["crt"]).decode())
            wait("the first 200", lambda: ingress.status("/healthz") == 200)
            first_200 = time.monotonic() - applied
            wait("Ready", lambda: ready_on(cluster, name, sample["spec"]["image"]))

            web = f"deploy/{names.web}"
            token = cluster.kubectl("-n", NAMESPACE, "exec", web, "--", "python", "manage.py",
                                    "create_api_token", "bench").strip()  # fmt: skip
            api = ingress.with_token(token)
            for index in range(ITEMS):
                api.request("POST", "/api/items/", {"title": f"item {index}", "body": "x " * 50})

            next_image = images.APP_NEXT.name.removeprefix("docker.io/")
            with TrafficLoop(api) as traffic:
                patch = json.dumps({"spec": {"image": next_image}})
                cluster.kubectl("-n", NAMESPACE, "patch", "djangostack", name, "--type=merge",
                                "-p", patch)  # fmt: skip
                release_seconds = wait("the release", lambda: ready_on(cluster, name, next_image))
            print(f"node start{' (cold image store)' if args.cold else ''}: {node_start:.1f} s")
            print(f"kubectl apply to the first 200 through the Ingress: {first_200:.1f} s")
            print(f"release {sample['spec']['image']} -> {next_image}: {release_seconds:.1f} s "
                  f"(from the patch to Ready); {traffic.summary()}")  # fmt: skip
            print(f"/healthz through Traefik: {wrk(host, '/healthz', token)}")
            print(f"/api/items/ through Traefik: {wrk(host, '/api/items/', token)}")
        finally:
            cluster.down(quiet=True)


if __name__ == "__main__":
    main()
