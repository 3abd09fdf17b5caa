"""`make demo`: the operator installed by its Helm chart on the local cluster's real node, the
minimal sample applied, watched to Ready and served over HTTPS through the Ingress controller.

Idempotent: a second run finds the cluster and the chart's release in place, re-applies the
sample (a no-op) and shows it again; images rebuilt since (a changed app) reach the node.
`make demo-down` stops everything it started.
"""

from __future__ import annotations

import argparse
import base64
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml

from djangostack_devcluster import images, tools, topology
from djangostack_devcluster.cluster import ClusterError, LocalCluster
from djangostack_devcluster.ingressclient import IngressClient
from djangostack_operator.spec import StackNames

NAMESPACE = "demo"
OPERATOR_NAMESPACE = "djangostack-system"
RELEASE = "djangostack-operator"
SAMPLE = tools.REPO_ROOT / "manifests" / "samples" / "minimal.yaml"
CHART = tools.REPO_ROOT / "charts" / "djangostack-operator"
# On the operator pod: the local archive its image came from (escaped for helm's --set).
IMAGE_ANNOTATION = "djangostack\\.io/local-image-archive"
CONDITIONS = ("DatabaseReady", "CacheReady", "Migrated", "WebAvailable", "WorkersAvailable",
              "BeatAvailable", "TLSReady")  # fmt: skip


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def sample() -> tuple[str, str]:
    """(stack name, Ingress host) of the sample."""
    document = yaml.safe_load(SAMPLE.read_text())
    return document["metadata"]["name"], document["spec"]["ingress"]["host"]


def stack_summary(cluster: LocalCluster, name: str) -> tuple[str, bool]:
    raw = cluster.kubectl("-n", NAMESPACE, "get", "djangostack", name, "-o", "json")
    status = json.loads(raw).get("status", {})
    conditions = {c["type"]: c for c in status.get("conditions", [])}
    ready = conditions.get("Ready", {})
    parts = [f"phase={status.get('phase', 'Pending')}"]
    parts += [f"{kind}={conditions[kind]['status']}" for kind in CONDITIONS if kind in conditions]
    if ready.get("status") != "True" and ready.get("message"):
        parts.append(f"({ready['message']})")
    return " ".join(parts), ready.get("status") == "True"


def install_operator(cluster: LocalCluster, timeout: float) -> None:
    """The chart as a platform engineer installs it: the image built from the Dockerfile, one
    replica (this machine has two cores), every namespace watched. The image keeps its tag
    when rebuilt; an annotation naming its archive rolls the pod when it changed."""
    say(f"installing the operator with helm (release {RELEASE}, namespace {OPERATOR_NAMESPACE})")
    archive = images.OPERATOR.archive().stem
    subprocess.run(
        [str(cluster.tools.helm), f"--kubeconfig={cluster.kubeconfig}", "upgrade", "--install",
         RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE, "--create-namespace",
         "--set", "replicas=1", "--set-string", f"podAnnotations.{IMAGE_ANNOTATION}={archive}",
         "--wait", f"--timeout={int(timeout)}s"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def wait_ready(cluster: LocalCluster, name: str, deadline: float) -> bool:
    last = ""
    while True:
        summary, ready = stack_summary(cluster, name)
        if summary != last:
            say(summary)
            last = summary
        if ready:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(1)


def write_ca(cluster: LocalCluster, name: str, path: Path) -> None:
    """The certificate of the stack's TLS Secret (self-signed: it is its own CA)."""
    raw = cluster.kubectl(
        "-n", NAMESPACE, "get", "secret", StackNames(name).tls_secret, "-o", "jsonpath={.data}"
    )
    path.write_bytes(base64.b64decode(json.loads(raw)["tls.crt"]))


def curl_command(host: str, path: str, ca: Path) -> str:
    port = topology.INGRESS_HTTPS_PORT
    return shlex.join(["curl", "--resolve", f"{host}:{port}:127.0.0.1", "--cacert", str(ca),
                       f"https://{host}:{port}{path}"])  # fmt: skip


def up(state_dir: Path, timeout: float) -> int:
    started = time.monotonic()
    say(
        "binaries and images: cached after the first run; a cold first run builds them from the Go "
        "module proxy and Debian packages first, about 20 minutes (docs/performance.md)"
    )
    toolset = tools.ensure_all()
    tools.link_into(toolset, state_dir / "bin")
    images.ensure_all()
    cluster = LocalCluster(state_dir, toolset, real_node=True)
    cluster.up()
    deadline = time.monotonic() + timeout
    install_operator(cluster, timeout)
    name, host = sample()
    namespaces = cluster.kubectl("get", "namespaces", "-o", "name").split()
    if f"namespace/{NAMESPACE}" not in namespaces:
        cluster.kubectl("create", "namespace", NAMESPACE)
    say(f"applying {SAMPLE.relative_to(tools.REPO_ROOT)} in namespace {NAMESPACE}")
    cluster.kubectl("-n", NAMESPACE, "apply", "-f", str(SAMPLE))
    if not wait_ready(cluster, name, deadline):
        say(f"the stack did not become Ready; see: kubectl -n {NAMESPACE} describe djs {name}")
        return 1
    ca = state_dir / f"{name}-ca.crt"
    write_ca(cluster, name, ca)
    ingress = IngressClient.trusting(host, ca)
    while ingress.status("/healthz") != 200:
        if time.monotonic() > deadline:
            say(f"https://{host} does not answer through the Ingress controller")
            return 1
        time.sleep(0.5)
    say(f"Ready and serving through the Ingress {time.monotonic() - started:.0f}s after start")
    print()
    print(cluster.kubectl("-n", NAMESPACE, "get", "djangostacks,deployments,statefulsets,pods"))
    next_image = images.APP_NEXT.name.removeprefix("docker.io/")
    web = f"deploy/{StackNames(name).web}"
    print(
        f"""The stack is Ready and serves HTTPS through Traefik on this machine:

  {curl_command(host, "/readyz", ca)}

Use kubectl:

  export KUBECONFIG={cluster.kubeconfig} PATH={state_dir / "bin"}:$PATH
  kubectl -n {NAMESPACE} get djs {name} -o yaml                  # status and conditions
  kubectl -n {NAMESPACE} get events --sort-by=.lastTimestamp

The API: make a user and its token, then call it:

  TOKEN=$(kubectl -n {NAMESPACE} exec {web} -- python manage.py create_api_token demo)
  {curl_command(host, "/api/items/", ca)} -H "Authorization: Token $TOKEN" \\
      -H 'Content-Type: application/json' -d '{{"title": "hello"}}'

The admin: https://{host}:{topology.INGRESS_HTTPS_PORT}/admin/ (this machine only; the curl
options above show how {host} reaches 127.0.0.1). Make a login with:

  kubectl -n {NAMESPACE} exec -it {web} -- python manage.py createsuperuser

A release ({next_image} adds a migration; the migrations Job runs first, then web rolls):

  kubectl -n {NAMESPACE} patch djs {name} --type=merge -p '{{"spec":{{"image":"{next_image}"}}}}'
  kubectl -n {NAMESPACE} get djs,jobs,pods -w

Stop everything with: make demo-down
"""
    )
    return 0


def down(state_dir: Path) -> int:
    toolset = tools.installed()
    if toolset is not None:
        LocalCluster(state_dir, toolset, real_node=True).down()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m djangostack_devcluster.demo")
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--state-dir", type=Path, default=tools.REPO_ROOT / ".cluster")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    try:
        return up(args.state_dir, args.timeout) if args.command == "up" else down(args.state_dir)
    except (tools.ToolError, ClusterError, subprocess.CalledProcessError) as error:
        say(f"error: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
