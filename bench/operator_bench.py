"""Benchmark of the operator on the local control plane (not a test; it prints figures).

For N stacks created at once: seconds until all are Ready, reconciles and API writes per
stack to get there, API writes during idle resyncs, and the operator's peak memory (RSS).

    .venv/bin/python bench/operator_bench.py            # N = 1, 10, 50
    .venv/bin/python bench/operator_bench.py 5 20       # other sizes
    .venv/bin/python bench/operator_bench.py 50 --broken 10   # 50 healthy beside 10 broken
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client, config
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.operator_process import OperatorProcess  # noqa: E402
from tests.stacks import Stacks  # noqa: E402

from djangostack_devcluster import tools  # noqa: E402
from djangostack_devcluster.cluster import LocalCluster  # noqa: E402

RESYNC_SECONDS = 10.0
IDLE_RESYNCS = 3
# The reconcile counter under its current name and the name of earlier versions, so the
# bench measures an older checkout too.
RECONCILE_COUNTERS = ("controller_runtime_reconcile_total", "djangostack_reconcile_total")
BROKEN = {"database": {"external": {"urlSecretRef": {"name": "absent", "key": "url"}}}}


def reconciles(operator: OperatorProcess) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(operator.metrics())
        for sample in family.samples
        if sample.name in RECONCILE_COUNTERS
    )


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def install_crd(api: client.ApiClient) -> None:
    import yaml  # noqa: PLC0415

    extensions = client.ApiextensionsV1Api(api)
    crd = yaml.safe_load((REPO / "crds" / "djangostacks.yaml").read_text())
    extensions.create_custom_resource_definition(crd)
    while True:
        status = extensions.read_custom_resource_definition(crd["metadata"]["name"]).status
        if any(c.type == "Established" and c.status == "True" for c in status.conditions or []):
            return
        time.sleep(0.2)


def run_size(
    api: client.ApiClient, kubeconfig: Path, workdir: Path, size: int, broken: int
) -> dict[str, float]:
    core = client.CoreV1Api(api)
    prefix = f"bench{size}b{broken}-"
    namespaces = [f"{prefix}{index}" for index in range(size + broken)]
    for namespace in namespaces:
        core.create_namespace({"metadata": {"name": namespace}})
    for namespace in namespaces:
        while not core.list_namespaced_service_account(namespace).items:
            time.sleep(0.1)
    operator = OperatorProcess(
        kubeconfig, workdir / f"operator-{size}.log", [f"{prefix}*"], RESYNC_SECONDS
    ).start()
    try:
        all_stacks = [Stacks(api, namespace) for namespace in namespaces]
        started = time.monotonic()
        # Broken stacks first, so the healthy ones queue behind them.
        for stacks in all_stacks[size:]:
            stacks.create(**BROKEN)
        for stacks in all_stacks[:size]:
            stacks.create()
        pending = set(range(size))
        while pending:
            for index in list(pending):
                conditions = all_stacks[index].get().get("status", {}).get("conditions", [])
                if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                    pending.discard(index)
            time.sleep(0.2)
        to_ready = time.monotonic() - started
        # Let the rollout's last watch events settle, then count writes over idle resyncs.
        time.sleep(RESYNC_SECONDS)
        writes_after_ready = operator.write_requests()
        reconciles_after_ready = reconciles(operator)
        time.sleep(RESYNC_SECONDS * IDLE_RESYNCS)
        idle_writes = operator.write_requests() - writes_after_ready
        assert operator.process is not None
        return {
            "stacks": size,
            "broken": broken,
            "seconds_to_ready": to_ready,
            "reconciles_per_stack": reconciles_after_ready / (size + broken),
            "writes_per_stack": writes_after_ready / (size + broken),
            "writes_per_idle_resync": idle_writes / IDLE_RESYNCS,
            "peak_rss_mib": peak_rss_mib(operator.process.pid),
        }
    finally:
        operator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1, 10, 50])
    parser.add_argument(
        "--broken", type=int, default=0, help="also create this many stacks that never work"
    )
    args = parser.parse_args()
    toolset = tools.installed()
    if toolset is None:
        sys.exit("control plane binaries missing: run `make tools`")
    with tempfile.TemporaryDirectory(prefix="djangostack-bench-") as tmp:
        workdir = Path(tmp)
        # Hundreds of pods: kwok's fake node alone.
        cluster = LocalCluster(workdir / "cluster", toolset, real_node=False)
        cluster.up(attached=True)
        try:
            api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
            install_crd(api)
            rows = []
            for size in args.sizes:
                rows.append(run_size(api, cluster.kubeconfig, workdir, size, args.broken))
                print(rows[-1], flush=True)  # each size as soon as it is measured
        finally:
            cluster.down(quiet=True)
    print()
    print(
        "| stacks | broken beside | seconds to all Ready | reconciles per stack "
        "| API writes per stack | writes per idle resync | operator peak RSS |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['stacks']:.0f} | {row['broken']:.0f} | {row['seconds_to_ready']:.1f} | "
            f"{row['reconciles_per_stack']:.1f} | {row['writes_per_stack']:.1f} | "
            f"{row['writes_per_idle_resync']:.1f} | {row['peak_rss_mib']:.0f} MiB |"
        )


if __name__ == "__main__":
    main()
