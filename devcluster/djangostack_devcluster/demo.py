"""`make demo`: the operator on the local control plane, with a sample stack, watched to Ready.

Idempotent: a second run finds the control plane and the operator running, re-applies the
sample (a no-op) and shows it again. `make demo-down` stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from djangostack_devcluster import tools
from djangostack_devcluster.cluster import LocalCluster

NAMESPACE = "demo"
SAMPLE = tools.REPO_ROOT / "manifests" / "samples" / "minimal.yaml"
CRD = tools.REPO_ROOT / "crds" / "djangostacks.yaml"
OPERATOR = "operator"


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def kubectl(cluster: LocalCluster, *args: str, capture: bool = False) -> str:
    argv = [str(cluster.tools.kubectl), f"--kubeconfig={cluster.kubeconfig}", *args]
    result = subprocess.run(argv, check=True, capture_output=capture, text=True)
    return result.stdout if capture else ""


def stack_summary(cluster: LocalCluster) -> tuple[str, bool]:
    raw = kubectl(cluster, "-n", NAMESPACE, "get", "djs", "shop", "-o", "json", capture=True)
    status = json.loads(raw).get("status", {})
    conditions = {c["type"]: c for c in status.get("conditions", [])}
    ready = conditions.get("Ready", {})
    parts = [f"phase={status.get('phase', 'Pending')}"]
    for kind in ("DatabaseReady", "CacheReady", "Migrated", "WebAvailable", "WorkersAvailable",
                 "BeatAvailable"):  # fmt: skip
        if kind in conditions:
            parts.append(f"{kind}={conditions[kind]['status']}")
    if ready.get("status") != "True" and ready.get("message"):
        parts.append(f"({ready['message']})")
    return " ".join(parts), ready.get("status") == "True"


def up(state_dir: Path, timeout: float) -> int:
    toolset = tools.ensure_all()
    tools.link_into(toolset, state_dir / "bin")
    # Still on kwok's fake node alone: serving the stack from the real node is the next step.
    cluster = LocalCluster(state_dir, toolset, real_node=False)
    cluster.up()
    say("installing the DjangoStack CRD")
    kubectl(cluster, "apply", "--server-side", "-f", str(CRD))
    kubectl(cluster, "wait", "--for=condition=Established", "crd/djangostacks.djangostack.io")
    if cluster.process_running(OPERATOR):
        say("the operator is already running")
    else:
        say(f"starting the operator (log: {cluster.logs_dir / 'operator.log'})")
        cluster.start_process(
            OPERATOR,
            [sys.executable, "-m", "djangostack_operator", "--metrics-port=0",
             "--health-port=0", "--log-format=plain"],
            env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        )  # fmt: skip
    namespaces = kubectl(cluster, "get", "namespaces", "-o", "name", capture=True).split()
    if f"namespace/{NAMESPACE}" not in namespaces:
        kubectl(cluster, "create", "namespace", NAMESPACE)
    say(f"applying {SAMPLE.relative_to(tools.REPO_ROOT)} in namespace {NAMESPACE}")
    kubectl(cluster, "-n", NAMESPACE, "apply", "-f", str(SAMPLE))
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        summary, ready = stack_summary(cluster)
        if summary != last:
            say(summary)
            last = summary
        if ready:
            break
        if time.monotonic() > deadline or not cluster.process_running(OPERATOR):
            say(f"the stack did not become Ready; see {cluster.logs_dir / 'operator.log'}")
            return 1
        time.sleep(1)
    print()
    kubectl(cluster, "-n", NAMESPACE, "get",
            "djangostacks,deployments,statefulsets,jobs,cronjobs,services,ingresses,"
            "persistentvolumeclaims,secrets")  # fmt: skip
    print(
        f"""
The stack is Ready. Everything keeps running; look around with:

  export KUBECONFIG={cluster.kubeconfig}
  export PATH={state_dir / "bin"}:$PATH
  kubectl -n {NAMESPACE} get djs shop -o yaml           # status, conditions
  kubectl -n {NAMESPACE} get events --sort-by=.lastTimestamp
  kubectl -n {NAMESPACE} patch djs shop --type=merge \\
      -p '{{"spec":{{"image":"ghcr.io/djangostack/example-app:0.2.0"}}}}'   # a release
  tail -f {cluster.logs_dir / "operator.log"}

Pods are simulated by kwok: they become Running/Ready, nothing actually runs.
Stop everything with: make demo-down
"""
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m djangostack_devcluster.demo")
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--state-dir", type=Path, default=tools.REPO_ROOT / ".cluster")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.state_dir, args.timeout)
    toolset = tools.installed()
    if toolset is not None:
        LocalCluster(args.state_dir, toolset, real_node=False).down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
