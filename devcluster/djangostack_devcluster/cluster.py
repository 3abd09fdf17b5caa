"""Start and stop the local control plane, with kwok's fake node and (by default) a real node.

Start order: [the real node's bridge] -> etcd -> kube-apiserver -> kube-controller-manager ->
kube-scheduler -> kwok -> [the real node: containerd, kubelet, kube-proxy, CoreDNS, Traefik].

Everything binds to 127.0.0.1 on free ports, but the apiserver of a cluster with a real node:
it binds the node IP (the bridge's address, see topology.py) so that pods reach it through
the `kubernetes` Service as they do on any cluster. Which node a pod lands on is chosen per
namespace (PodNodeSelector): the annotation scheduler.alpha.kubernetes.io/node-selector
`type=kwok` or `type=real`; without it, the real node when there is one.

The state folder (by default `.cluster/`) holds the PKI, the kubeconfig, logs, and one pid
file per process; etcd keeps its data in /dev/shm (etcd fsyncs every write, and a tmpfs makes
that free). Stopping signals only processes whose pid file this cluster wrote and that still
run (processes.py), so a recycled pid is never touched.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from djangostack_devcluster import images, topology
from djangostack_devcluster import pki as pki_module
from djangostack_devcluster.node import COMPONENTS as NODE_COMPONENTS
from djangostack_devcluster.node import ApiAccess, RealNode
from djangostack_devcluster.processes import ProcessError, ProcessTable, free_port, http_ok
from djangostack_devcluster.tools import Toolset

NODE_NAME = topology.FAKE_NODE
STORAGE_CLASS = "standard"
SERVICE_CIDR = topology.SERVICE_CIDR
KWOK_STAGES = Path(__file__).with_name("kwok-stages.yaml")
# Order matters: each component needs the ones before it; stopping goes in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


class ClusterError(RuntimeError):
    """The control plane did not start or stop; the message names the component and its log."""


def log(message: str) -> None:
    print(f"[cluster] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int
    # Where the apiserver listens: the node IP when the cluster has a real node.
    api_host: str = "127.0.0.1"

    @classmethod
    def allocate(cls, api_host: str) -> Ports:
        etcd_client, etcd_peer, apiserver, controller_manager, scheduler, kwok = (
            free_port() for _ in range(6)
        )
        return cls(etcd_client, etcd_peer, apiserver, controller_manager, scheduler, kwok, api_host)


class LocalCluster:
    """One local control plane, identified by its state folder."""

    def __init__(self, state_dir: Path, tools: Toolset, real_node: bool = True) -> None:
        self.state_dir = state_dir.resolve()
        self.tools = tools
        self.real_node = real_node
        self.pki = pki_module.Pki(self.state_dir / "pki")
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.logs_dir = self.state_dir / "logs"
        self.run_dir = self.state_dir / "run"
        self.processes = ProcessTable(self.run_dir, self.logs_dir)
        digest = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:12]
        self.etcd_data = Path("/dev/shm") / f"djangostack-etcd-{digest}"
        self.node = RealNode(self.state_dir, tools, self.processes)

    # ---- public API -------------------------------------------------------------------

    def is_running(self) -> bool:
        """True when every component's process is alive and the apiserver is ready."""
        components = COMPONENTS + (NODE_COMPONENTS if self.real_node else ())
        if not all(self._alive_pid(name) for name in components):
            return False
        try:
            return self._get_text("/readyz") == "ok"
        except (OSError, ClusterError):
            return False

    def up(self, timeout: float = 180, attached: bool = False) -> None:
        """Start every component and wait until a node is Ready; idempotent.

        `attached=True` ties the processes to this Python process (they get SIGTERM when it
        dies), which is what a test session wants; `make cluster-up` leaves them detached.
        On any failure or Ctrl-C everything started so far is stopped again.
        """
        if self.is_running():
            log(f"already running; kubeconfig: {self.kubeconfig}")
            if self.real_node:
                # Images rebuilt since (a changed app, say) reach the running node too.
                images.import_all(self.node.containerd)
            return
        # Leftovers of a crashed run would hold ports or stale pid files.
        self.down(quiet=True)
        started = time.monotonic()
        deadline = started + timeout
        try:
            for folder in (self.logs_dir, self.run_dir):
                folder.mkdir(parents=True, exist_ok=True)
            pki_module.ensure_pki(self.pki.root)
            ports = Ports.allocate(topology.NODE_IP if self.real_node else "127.0.0.1")
            (self.state_dir / "ports.json").write_text(json.dumps(ports.__dict__))
            self._write_kubeconfigs(ports)
            if self.real_node:
                self.node.claim()
                self.node.prepare_network(ports.apiserver)

            self._start("etcd", self._etcd_args(ports), attached)
            self._wait(
                "etcd",
                lambda: http_ok(f"http://127.0.0.1:{ports.etcd_client}/health"),
                deadline,
            )
            self._start("kube-apiserver", self._apiserver_args(ports), attached)
            self._wait("kube-apiserver", lambda: self._get_text("/readyz") == "ok", deadline)
            self._start("kube-controller-manager", self._controller_manager_args(ports), attached)
            self._start("kube-scheduler", self._scheduler_args(ports), attached)
            self._start("kwok", self._kwok_args(ports), attached)
            self._create_node()
            self._create_default_storage_class()
            self._wait("kwok", self._node_ready, deadline)
            self._wait("kube-controller-manager", self._default_service_account_exists, deadline)
            if self.real_node:
                access = ApiAccess(self.kubectl, self.write_kubeconfig, self.api_url(), self.pki)
                self.node.start(access, attached, deadline)
        except BaseException:
            log("start failed; stopping what was started")
            self.down(quiet=True)
            raise
        log(f"ready in {time.monotonic() - started:.1f}s; kubeconfig: {self.kubeconfig}")

    def down(self, quiet: bool = False) -> None:
        """Stop exactly the processes this cluster started, newest first, and drop etcd data.

        Processes started beside it (start_process, e.g. the demo's operator) go first."""
        volumes = self._volume_directories()
        extras = [
            name for name in self.processes.names() if name not in COMPONENTS + NODE_COMPONENTS
        ]
        for name in extras:
            pid = self.processes.stop(name)
            if pid is not None and not quiet:
                log(f"stopped {name} (pid {pid})")
        # The node goes before the apiserver: its teardown lists nothing from it, but its
        # components must not see the apiserver vanish while they stop.
        self.node.stop(quiet=quiet)
        for name in reversed(COMPONENTS):
            pid = self.processes.stop(name)
            if pid is not None and not quiet:
                log(f"stopped {name} (pid {pid})")
        shutil.rmtree(self.etcd_data, ignore_errors=True)
        # Their PersistentVolumes went with etcd's data: nothing could ever use them again.
        for folder in volumes:
            shutil.rmtree(folder, ignore_errors=True)

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver alone (fault tests); the rest of the control plane stays."""
        self.processes.stop("kube-apiserver")

    def start_apiserver(self, attached: bool = False, timeout: float = 60) -> None:
        """Start kube-apiserver again on its old port and wait until it is ready."""
        ports = Ports(**json.loads((self.state_dir / "ports.json").read_text()))
        self._start("kube-apiserver", self._apiserver_args(ports), attached)
        self._wait(
            "kube-apiserver",
            lambda: self._get_text("/readyz") == "ok",
            time.monotonic() + timeout,
        )

    def api_url(self) -> str:
        ports = Ports(**json.loads((self.state_dir / "ports.json").read_text()))
        return f"https://{ports.api_host}:{ports.apiserver}"

    def kubectl(self, *args: str, input: str | None = None) -> str:
        """kubectl as the admin; a ClusterError with its output when it fails."""
        result = subprocess.run(
            [str(self.tools.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            input=input, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def start_process(
        self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> None:
        """Run a process of ours beside the control plane (pid file, log in logs/); a second
        call while it runs does nothing. `down` stops it before the control plane."""
        if self.process_running(name):
            return
        self._start(name, argv[1:], attached=False, binary=Path(argv[0]), env=env)

    def process_running(self, name: str) -> bool:
        return self._alive_pid(name) is not None

    # ---- processes --------------------------------------------------------------------

    def _binary(self, name: str) -> Path:
        return self.tools.as_dict()[name]

    def _start(
        self,
        name: str,
        args: Sequence[str],
        attached: bool,
        binary: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        binary = binary or self._binary(name)
        pid = self.processes.start(name, [str(binary), *args], env=env, attached=attached)
        log(f"started {name} (pid {pid}, log {self.processes.log_path(name)})")

    def _alive_pid(self, name: str) -> int | None:
        return self.processes.alive_pid(name)

    def _wait(self, name: str, check: Callable[[], bool], deadline: float) -> None:
        try:
            self.processes.wait_until(name, check, deadline, tolerate=(OSError, ClusterError))
        except ProcessError as error:
            raise ClusterError(str(error)) from None

    # ---- arguments --------------------------------------------------------------------

    def _etcd_args(self, ports: Ports) -> list[str]:
        client = f"http://127.0.0.1:{ports.etcd_client}"
        peer = f"http://127.0.0.1:{ports.etcd_peer}"
        return [
            "--name=local",
            f"--data-dir={self.etcd_data}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=local={peer}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]

    def _apiserver_args(self, ports: Ports) -> list[str]:
        args = [
            f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
            f"--bind-address={ports.api_host}",
            f"--advertise-address={ports.api_host}",
            f"--secure-port={ports.apiserver}",
            f"--tls-cert-file={self.pki.serving_cert}",
            f"--tls-private-key-file={self.pki.serving_key}",
            f"--client-ca-file={self.pki.ca_cert}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={self.pki.service_account_public_key}",
            f"--service-account-signing-key-file={self.pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            "--profiling=false",
            "--enable-admission-plugins=PodNodeSelector",
            f"--admission-control-config-file={self._write_admission_config()}",
        ]
        if not self.real_node:
            # Loopback addresses may not go into Endpoints; nothing needs the kubernetes Service.
            return [*args, "--endpoint-reconciler-type=none"]
        kubelet_client = pki_module.APISERVER_KUBELET_CLIENT
        return [
            *args,
            f"--kubelet-client-certificate={self.pki.client_cert(kubelet_client)}",
            f"--kubelet-client-key={self.pki.client_key(kubelet_client)}",
            # The node's name resolves nowhere; its InternalIP is the node IP.
            "--kubelet-preferred-address-types=InternalIP",
            # The aggregation layer (metrics-server): the apiserver proxies as
            # front-proxy-client, and extension apiservers trust only that name from the CA.
            f"--requestheader-client-ca-file={self.pki.ca_cert}",
            f"--requestheader-allowed-names={pki_module.FRONT_PROXY.user}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={self.pki.client_cert(pki_module.FRONT_PROXY)}",
            f"--proxy-client-key-file={self.pki.client_key(pki_module.FRONT_PROXY)}",
            # metrics-server runs on the host: route to its endpoint, not a ClusterIP.
            "--enable-aggregator-routing=true",
        ]

    def _write_admission_config(self) -> Path:
        """PodNodeSelector: a namespace without the annotation lands on the real node, if any."""
        default = topology.REAL_NODE_TYPE if self.real_node else topology.FAKE_NODE_TYPE
        path = self.state_dir / "admission.yaml"
        config = {
            "apiVersion": "apiserver.config.k8s.io/v1",
            "kind": "AdmissionConfiguration",
            "plugins": [
                {
                    "name": "PodNodeSelector",
                    "configuration": {
                        "podNodeSelectorPluginConfig": {
                            "clusterDefaultNodeSelector": f"{topology.NODE_TYPE_LABEL}={default}"
                        }
                    },
                }
            ],
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _controller_manager_args(self, ports: Ports) -> list[str]:
        kubeconfig = self.state_dir / "controller-manager.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.controller_manager}",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self.pki.service_account_key}",
            f"--root-ca-file={self.pki.ca_cert}",
            f"--cluster-signing-cert-file={self.pki.ca_cert}",
            f"--cluster-signing-key-file={self.pki.ca_key}",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
            # Dynamic hostPath volumes (test-only provisioner), so PVCs bind and pods schedule.
            "--enable-hostpath-provisioner=true",
            # A loaded 2-core machine can miss heartbeats; do not mark the fake node NotReady.
            "--node-monitor-grace-period=3m20s",
            # An autoscaled web tier scales down 30 s after the load goes (default: 5 min),
            # so a test sees both directions.
            "--horizontal-pod-autoscaler-downscale-stabilization=30s",
            "--profiling=false",
        ]

    def _scheduler_args(self, ports: Ports) -> list[str]:
        kubeconfig = self.state_dir / "scheduler.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.scheduler}",
            "--leader-elect=false",
            "--profiling=false",
        ]

    def _kwok_args(self, ports: Ports) -> list[str]:
        return [
            f"--kubeconfig={self.kubeconfig}",
            f"--config={KWOK_STAGES}",
            # Only its own node: the real node's lease, status and pods are the kubelet's.
            "--manage-nodes-with-annotation-selector="
            f"{topology.KWOK_NODE_ANNOTATION}={topology.KWOK_NODE_ANNOTATION_VALUE}",
            f"--cidr={topology.FAKE_POD_CIDR.replace('.0/', '.1/')}",
            "--node-lease-duration-seconds=200",
            f"--server-address=127.0.0.1:{ports.kwok}",
        ]

    def _write_kubeconfigs(self, ports: Ports) -> None:
        files = {
            self.kubeconfig: pki_module.ADMIN,
            self.state_dir / "controller-manager.kubeconfig": pki_module.CONTROLLER_MANAGER,
            self.state_dir / "scheduler.kubeconfig": pki_module.SCHEDULER,
        }
        for path, identity in files.items():
            self._write_kubeconfig(identity, path, f"https://{ports.api_host}:{ports.apiserver}")

    def write_kubeconfig(self, identity: pki_module.ClientIdentity, path: Path) -> None:
        """A kubeconfig for `identity` (a component of the real node) at `path`."""
        self._write_kubeconfig(identity, path, self.api_url())

    def _write_kubeconfig(
        self, identity: pki_module.ClientIdentity, path: Path, server: str
    ) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "djangostack-local",
                    "cluster": {"server": server, "certificate-authority": str(self.pki.ca_cert)},
                }
            ],
            "users": [
                {
                    "name": identity.user,
                    "user": {
                        "client-certificate": str(self.pki.client_cert(identity)),
                        "client-key": str(self.pki.client_key(identity)),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "djangostack-local",
                    "context": {"cluster": "djangostack-local", "user": identity.user},
                }
            ],
            "current-context": "djangostack-local",
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)

    # ---- talking to the apiserver (stdlib only: this runs before any client is set up) ---

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(
            str(self.pki.client_cert(pki_module.ADMIN)), str(self.pki.client_key(pki_module.ADMIN))
        )
        return context

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.api_url() + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=self._ssl_context(), timeout=5) as reply:
                payload = reply.read().decode()
        except urllib.error.HTTPError as error:
            raise ClusterError(f"{method} {path}: HTTP {error.code}") from error
        return payload

    def _volume_directories(self) -> list[Path]:
        """The directories of this cluster's hostPath volumes (none if it does not answer)."""
        try:
            volumes = self._get_json("/api/v1/persistentvolumes")["items"]
        except (OSError, ClusterError, ValueError):
            return []
        folders = [Path(v["spec"].get("hostPath", {}).get("path", "")) for v in volumes]
        return [f for f in folders if f.parent == topology.HOSTPATH_PROVISIONER_ROOT]

    def _get_text(self, path: str) -> str:
        return str(self._request("GET", path))

    def _get_json(self, path: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._request("GET", path))
        return result

    def _create_node(self) -> None:
        # Room for the pods of a thousand stacks (about seven each).
        resources = {"cpu": "1000", "memory": "4Ti", "pods": "10000", "ephemeral-storage": "100Ti"}
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "labels": {
                    "kubernetes.io/hostname": NODE_NAME,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    topology.NODE_TYPE_LABEL: topology.FAKE_NODE_TYPE,
                },
                "annotations": {topology.KWOK_NODE_ANNOTATION: topology.KWOK_NODE_ANNOTATION_VALUE},
            },
            "status": {"allocatable": resources, "capacity": resources},
        }
        self._create_if_absent("/api/v1/nodes", node)

    def _create_default_storage_class(self) -> None:
        """A default StorageClass served by the controller-manager's hostPath provisioner."""
        storage_class = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/host-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
        self._create_if_absent("/apis/storage.k8s.io/v1/storageclasses", storage_class)

    def _create_if_absent(self, path: str, body: dict[str, Any]) -> None:
        """POST `body`; one that exists already (a warm restart) is fine."""
        try:
            self._request("POST", path, body)
        except ClusterError as error:
            if "HTTP 409" not in str(error):
                raise

    def _node_ready(self) -> bool:
        node = self._get_json(f"/api/v1/nodes/{NODE_NAME}")
        conditions = node.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _default_service_account_exists(self) -> bool:
        self._get_json("/api/v1/namespaces/default/serviceaccounts/default")
        return True
