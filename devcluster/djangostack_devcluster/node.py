"""The real worker node: containerd, kubelet, kube-proxy, NetworkPolicy enforcement, CoreDNS
and Traefik on this machine.

Start (after the apiserver is ready; the bridge is made before it, see network.py):
RBAC for the node's components -> containerd -> images imported -> volumes (volumes.py) ->
kubelet (until the node is Ready) -> kube-proxy -> network policies (networkpolicies.py) ->
CoreDNS -> Traefik. Stop goes the other
way and then removes what the node left on the host: containers, mounts under its folders,
the kubelet's cgroups, its /var/log/containers links, CNI result files, the shims' state,
every KUBE-/CNI- chain and ours, the bridge, and puts the kernel tunables back.
`leftovers()` lists whatever of that is still there.

One real node per machine: a lock file names the state folder that owns it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from djangostack_devcluster import (
    certmanager,
    coredns,
    images,
    kubelet,
    kubeproxy,
    metricsserver,
    network,
    networkpolicies,
    pki,
    topology,
    traefik,
)
from djangostack_devcluster.containerd import CNI_NETWORK, RUN_DIR, Containerd
from djangostack_devcluster.processes import ProcessTable, free_port, http_ok
from djangostack_devcluster.tools import Toolset, cache_dir

# Start order; stopping goes in reverse.
COMPONENTS = (
    "containerd", "volumes", "kubelet", "kube-proxy", "network-policies", "coredns",
    "metrics-server", "cert-manager", "traefik",
)  # fmt: skip
LOCK = Path("/run/djangostack-real-node.json")
CONTAINER_LOGS = Path("/var/log/containers")
CNI_CACHE = Path("/var/lib/cni")
# Written outside the node's folders whatever the configuration: the kubelet's log links,
# containerd's CNI result cache, and the runc shims' sockets and state. Those the node made
# are removed at the end; in those that were there before, only the node's own entries.
SHIM_STATE = Path("/run/containerd")
HOST_PATHS = (CONTAINER_LOGS, CNI_CACHE, SHIM_STATE)
CGROUP_ROOT = Path("/sys/fs/cgroup")

APISERVER_KUBELET_RBAC = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: djangostack:apiserver-kubelet-client
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:kubelet-api-admin
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: {pki.APISERVER_KUBELET_CLIENT.user}
"""


class NodeError(RuntimeError):
    """The real node did not start or is held by another cluster; the message says which."""


def log(message: str) -> None:
    print(f"[node] {message}", file=sys.stderr, flush=True)


Kubectl = Callable[..., str]


@dataclass(frozen=True)
class ApiAccess:
    """How the node's components reach the control plane (the cluster hands this over)."""

    kubectl: Kubectl
    write_kubeconfig: Callable[[pki.ClientIdentity, Path], None]
    api_url: str
    pki: pki.Pki


def condition_true(kubectl: Kubectl, kind: str, name: str, condition: str) -> Callable[[], bool]:
    """A probe: the object's status condition `condition` is True (a failing kubectl, e.g.
    before the object exists, is a RuntimeError that RealNode._wait tolerates)."""

    def probe() -> bool:
        jsonpath = f"jsonpath={{.status.conditions[?(@.type=='{condition}')].status}}"
        return kubectl("get", kind, name, "-o", jsonpath).strip() == "True"

    return probe


class RealNode:
    """The real node of the cluster whose state folder is `state_dir`."""

    def __init__(self, state_dir: Path, tools: Toolset, processes: ProcessTable) -> None:
        self.cluster_dir = state_dir
        self.dir = state_dir / "node"
        self.tools = tools
        self.processes = processes
        self.containerd = Containerd(self.dir, cache_dir() / "node" / "containerd", tools.ctr)
        self.saved_sysctls = self.dir / "sysctls.json"
        self.host_paths_file = self.dir / "host-paths-before.json"

    # ---- ownership ----------------------------------------------------------------------

    def claim(self) -> None:
        """Take the machine's real node, unless another running cluster holds it."""
        owner = self._owner()
        if owner is not None:
            if owner != self.cluster_dir and ProcessTable(owner / "run", owner / "logs").alive_pid(
                "kubelet"
            ):
                raise NodeError(
                    f"the real node of this machine runs for the cluster in {owner}; stop it "
                    f"first (make cluster-down, or python -m djangostack_devcluster "
                    f"--state-dir {owner} down)"
                )
            if owner != self.cluster_dir:
                log(f"taking over the real node left by {owner}")
                RealNode(owner, self.tools, ProcessTable(owner / "run", owner / "logs")).stop()
        self.dir.mkdir(parents=True, exist_ok=True)
        LOCK.write_text(json.dumps({"state_dir": str(self.cluster_dir)}))
        if not self.host_paths_file.is_file():
            existing = [str(path) for path in HOST_PATHS if path.exists()]
            self.host_paths_file.write_text(json.dumps(existing))

    def prepare_network(self, apiserver_port: int) -> None:
        """Before the apiserver starts: it binds the node IP."""
        network.save_sysctls(self.saved_sysctls)
        network.create(apiserver_port)

    # ---- start --------------------------------------------------------------------------

    def start(self, access: ApiAccess, attached: bool, deadline: float) -> None:
        started = time.monotonic()
        kubectl, write_kubeconfig = access.kubectl, access.write_kubeconfig
        api_url, ca_cert = access.api_url, access.pki.ca_cert
        kubectl(
            "apply",
            "-f",
            "-",
            input="---".join(
                (APISERVER_KUBELET_RBAC, coredns.RBAC, traefik.RBAC, networkpolicies.RBAC)
            ),
        )
        self._start_containerd(attached, deadline)
        images.import_all(self.containerd)
        self._start("volumes", Path(sys.executable), ["-m", "djangostack_devcluster.volumes"],
                    attached)  # fmt: skip
        self._start_kubelet(write_kubeconfig, ca_cert, attached, deadline, kubectl)
        self._start_kube_proxy(write_kubeconfig, attached, deadline)
        self._start_network_policies(write_kubeconfig, attached, deadline)
        self._start_coredns(write_kubeconfig, attached, deadline)
        self._start_metrics_server(access, attached, deadline)
        self._start_cert_manager(access, attached, deadline)
        self._start_traefik(kubectl, api_url, ca_cert, attached, deadline)
        changed = network.restore_sysctls(self.saved_sysctls, keep_running_values=True)
        if changed:
            log(f"put back the kernel tunables the kubelet changed: {', '.join(changed)}")
        log(f"real node {topology.REAL_NODE} ready in {time.monotonic() - started:.1f}s")

    def _start(self, name: str, binary: Path, args: list[str], attached: bool) -> None:
        pid = self.processes.start(name, [str(binary), *args], attached=attached)
        log(f"started {name} (pid {pid}, log {self.processes.log_path(name)})")

    def _wait(self, name: str, check: Callable[[], bool], deadline: float) -> None:
        self.processes.wait_until(name, check, deadline, tolerate=(OSError, RuntimeError))

    def _start_containerd(self, attached: bool, deadline: float) -> None:
        self.containerd.write_config()
        self._start("containerd", self.tools.containerd, self.containerd.args(), attached)
        self._wait("containerd", self.containerd.ready, deadline)

    def _start_kubelet(
        self,
        write_kubeconfig: Callable[[pki.ClientIdentity, Path], None],
        ca_cert: Path,
        attached: bool,
        deadline: float,
        kubectl: Kubectl,
    ) -> None:
        kubeconfig = self.dir / "kubelet.kubeconfig"
        write_kubeconfig(pki.KUBELET, kubeconfig)
        healthz = free_port()
        config_file = self.dir / "kubelet.yaml"
        body = kubelet.config(self.dir, ca_cert, self.containerd.socket, free_port(), healthz)
        kubelet.write_config(config_file, body)
        self._start(
            "kubelet",
            self.tools.kubelet,
            kubelet.args(self.dir, config_file, kubeconfig, self.containerd.socket),
            attached,
        )
        self._wait("kubelet", lambda: http_ok(f"http://127.0.0.1:{healthz}/healthz"), deadline)

        def ready() -> bool:
            node = json.loads(kubectl("get", "node", topology.REAL_NODE, "-o", "json"))
            conditions = node.get("status", {}).get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        self._wait("kubelet", ready, deadline)

    def _start_kube_proxy(
        self,
        write_kubeconfig: Callable[[pki.ClientIdentity, Path], None],
        attached: bool,
        deadline: float,
    ) -> None:
        kubeconfig = self.dir / "kube-proxy.kubeconfig"
        write_kubeconfig(pki.KUBE_PROXY, kubeconfig)
        healthz = free_port()
        config_file = self.dir / "kube-proxy.yaml"
        body = kubeproxy.config(kubeconfig, healthz, free_port())
        config_file.write_text(yaml.safe_dump(body, sort_keys=False))
        self._start("kube-proxy", self.tools.kube_proxy, kubeproxy.args(config_file), attached)
        self._wait("kube-proxy", lambda: http_ok(f"http://127.0.0.1:{healthz}/healthz"), deadline)

    def _start_network_policies(
        self,
        write_kubeconfig: Callable[[pki.ClientIdentity, Path], None],
        attached: bool,
        deadline: float,
    ) -> None:
        kubeconfig = self.dir / "network-policies.kubeconfig"
        write_kubeconfig(pki.NETWORK_POLICIES, kubeconfig)
        self._start("network-policies", self.tools.network_policies,
                    networkpolicies.args(kubeconfig), attached)  # fmt: skip
        # It reads its queue once its informers have synced; only then are connections sent.
        self._wait("network-policies", networkpolicies.queue_bound, deadline)
        networkpolicies.install_rules()

    def _start_coredns(
        self,
        write_kubeconfig: Callable[[pki.ClientIdentity, Path], None],
        attached: bool,
        deadline: float,
    ) -> None:
        kubeconfig = self.dir / "coredns.kubeconfig"
        write_kubeconfig(pki.COREDNS, kubeconfig)
        ready = free_port()
        corefile = self.dir / "Corefile"
        corefile.write_text(coredns.corefile(kubeconfig, ready, free_port()))
        self._start("coredns", self.tools.coredns, coredns.args(corefile), attached)
        self._wait("coredns", lambda: http_ok(f"http://127.0.0.1:{ready}/ready"), deadline)

    def _start_metrics_server(self, access: ApiAccess, attached: bool, deadline: float) -> None:
        kubeconfig = self.dir / "metrics-server.kubeconfig"
        access.write_kubeconfig(pki.METRICS_SERVER, kubeconfig)
        port = free_port()
        access.kubectl("apply", "-f", "-", input=metricsserver.objects(access.pki.ca_cert, port))
        cert, key = access.pki.metrics_server_cert, access.pki.metrics_server_key
        self._start("metrics-server", self.tools.metrics_server,
                    metricsserver.args(kubeconfig, cert, key, port), attached)  # fmt: skip
        context = ssl.create_default_context(cafile=str(access.pki.ca_cert))
        context.check_hostname = False  # its certificate names the Service, not the node IP
        livez = f"https://{topology.NODE_IP}:{port}/livez"
        self._wait("metrics-server", lambda: http_ok(livez, context), deadline)

        api_service = ("apiservice", metricsserver.API_SERVICE)
        self._wait("metrics-server", condition_true(access.kubectl, *api_service, "Available"),
                   deadline)  # fmt: skip

    def _start_cert_manager(self, access: ApiAccess, attached: bool, deadline: float) -> None:
        binary = self.tools.cert_manager
        files = [f"--filename={crd}" for crd in certmanager.crds(binary)]
        access.kubectl("apply", "--server-side", *files)
        access.kubectl("wait", "--for=condition=Established", "--timeout=60s", *files)
        access.kubectl("apply", "-f", "-", input=certmanager.RBAC)
        kubeconfig = self.dir / "cert-manager.kubeconfig"
        access.write_kubeconfig(pki.CERT_MANAGER, kubeconfig)
        self._start("cert-manager", binary, certmanager.args(kubeconfig), attached)
        access.kubectl("apply", "-f", "-", input=certmanager.ISSUER)
        issuer = ("clusterissuer", certmanager.SELF_SIGNED_ISSUER)
        self._wait("cert-manager", condition_true(access.kubectl, *issuer, "Ready"), deadline)

    def _start_traefik(
        self, kubectl: Kubectl, api_url: str, ca_cert: Path, attached: bool, deadline: float
    ) -> None:
        token = kubectl(
            "create", "token", traefik.SERVICE_ACCOUNT, "--namespace", traefik.NAMESPACE,
            f"--duration={traefik.TOKEN_SECONDS}s",
        ).strip()  # fmt: skip
        ping = free_port()
        config_file = self.dir / "traefik.yaml"
        config_file.touch(mode=0o600)
        config_file.write_text(
            yaml.safe_dump(traefik.static_config(api_url, token, ca_cert, ping), sort_keys=False)
        )
        self._start("traefik", self.tools.traefik, traefik.args(config_file), attached)
        self._wait("traefik", lambda: http_ok(f"http://127.0.0.1:{ping}/ping"), deadline)

    # ---- stop ---------------------------------------------------------------------------

    def stop(self, quiet: bool = False) -> None:
        """Stop every component and remove what the node left on the host; idempotent."""

        def say(message: str) -> None:
            if not quiet:
                log(message)

        if not self.dir.is_dir() or self._owner() not in (None, self.cluster_dir):
            return  # never started here, or taken over by another cluster (which cleaned up)

        # No connection is sent to a controller that is gone.
        for item in networkpolicies.remove_rules():
            say(f"removed {item}")
        # Newest first; containerd last, once its containers are removed.
        for name in [name for name in reversed(COMPONENTS) if name != "containerd"]:
            pid = self.processes.stop(name)
            if pid is not None:
                say(f"stopped {name} (pid {pid})")
        if self.processes.alive_pid("containerd") is not None:
            removed = self.containerd.remove_all_containers()
            say(f"removed {removed} containers")
        pid = self.processes.stop("containerd")
        if pid is not None:
            say(f"stopped containerd (pid {pid})")
        for item in networkpolicies.remove_table():
            say(f"removed {item}")
        cleanup = subprocess.run(
            [str(self.tools.kube_proxy), *kubeproxy.cleanup_args()],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if cleanup.returncode != 0:
            say(f"kube-proxy --cleanup: {cleanup.stderr.strip()[-300:]}")
        for folder in (self.dir, RUN_DIR):
            for mount in unmount_under(folder):
                say(f"unmounted {mount}")
        shutil.rmtree(RUN_DIR, ignore_errors=True)
        for group in remove_kubepods_cgroups():
            say(f"removed cgroup {group}")
        remove_container_log_links(self.dir)
        remove_cni_results()
        for path in self._host_paths_made():
            shutil.rmtree(path, ignore_errors=True)
            say(f"removed {path}")
        for item in [*network.remove(), *network.remove_node_chains()]:
            say(f"removed {item}")
        changed = network.restore_sysctls(self.saved_sysctls, keep_running_values=False)
        if changed:
            say(f"put back {', '.join(changed)}")
        self.host_paths_file.unlink(missing_ok=True)
        if self._owner() == self.cluster_dir:
            LOCK.unlink()

    def _host_paths_made(self) -> list[Path]:
        """The host paths that exist now but did not before the node's first start."""
        try:
            before = set(json.loads(self.host_paths_file.read_text()))
        except (OSError, ValueError):
            return []
        return [path for path in HOST_PATHS if path.exists() and str(path) not in before]

    def _owner(self) -> Path | None:
        try:
            return Path(json.loads(LOCK.read_text())["state_dir"])
        except (OSError, ValueError, KeyError):
            return None

    def leftovers(self) -> list[str]:
        """What the node would have left behind: processes, mounts, cgroups, network."""
        found = [f"process {name}" for name in COMPONENTS if self.processes.alive_pid(name)]
        found += [
            f"mount {mount}" for folder in (self.dir, RUN_DIR) for mount in mounts_under(folder)
        ]
        if RUN_DIR.exists():
            found.append(f"path {RUN_DIR}")
        found += [f"cgroup {group}" for group in kubepods_cgroups()]
        found += [f"link {link}" for link in container_log_links(self.dir)]
        found += network.leftovers()
        found += networkpolicies.leftovers()
        found += [f"path {path}" for path in self._host_paths_made()]
        if LOCK.is_file():
            found.append(f"lock {LOCK}")
        return found


# ---- host cleanup helpers (also used by the teardown test) --------------------------------


def _unescape(field: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as octal.
    return field.encode().decode("unicode_escape")


def mounts_under(folder: Path) -> list[str]:
    prefix = str(folder.resolve())
    mounts = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = _unescape(line.split()[4])
            if point == prefix or point.startswith(prefix + os.sep):
                mounts.append(point)
    return mounts


def unmount_under(folder: Path) -> list[str]:
    """Unmount everything below `folder`, deepest first (pod volumes, rootfs, netns)."""
    done = []
    for _ in range(5):  # a bind mount may reveal another beneath it
        mounts = sorted(set(mounts_under(folder)), key=len, reverse=True)
        if not mounts:
            break
        for mount in mounts:
            if (
                subprocess.run(["umount", "-l", mount], capture_output=True, check=False).returncode
                == 0
            ):
                done.append(mount)
    return done


def kubepods_cgroups() -> list[str]:
    if not CGROUP_ROOT.is_dir():
        return []
    found = []
    for controller in CGROUP_ROOT.iterdir():
        candidate = controller / "kubepods"
        if candidate.is_dir():
            found.append(str(candidate))
    return found


def remove_kubepods_cgroups() -> list[str]:
    removed = []
    for group in kubepods_cgroups():
        # rmdir works only on empty groups: children first.
        for folder in sorted(
            (p for p in Path(group).rglob("*") if p.is_dir()),
            key=lambda p: len(p.parts),
            reverse=True,
        ):
            with contextlib.suppress(OSError):
                folder.rmdir()
        try:
            Path(group).rmdir()
            removed.append(group)
        except OSError:
            pass
    return removed


def container_log_links(state: Path) -> list[Path]:
    if not CONTAINER_LOGS.is_dir():
        return []
    prefix = str(state.resolve())
    return [
        link
        for link in CONTAINER_LOGS.iterdir()
        if link.is_symlink() and os.readlink(link).startswith(prefix)
    ]


def remove_container_log_links(state: Path) -> None:
    for link in container_log_links(state):
        link.unlink(missing_ok=True)


def remove_cni_results() -> None:
    """containerd's CNI library caches each attachment's result under /var/lib/cni."""
    results = CNI_CACHE / "results"
    if results.is_dir():
        for entry in results.glob(f"{CNI_NETWORK}-*"):
            entry.unlink(missing_ok=True)
    for folder in (results, CNI_CACHE):
        if folder.is_dir() and not any(folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)
