"""The real operator as a child process (`python -m djangostack_operator`): tests, benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from djangostack_devcluster.processes import free_port

WRITE_VERBS = ("apply", "create", "delete", "patch")


class OperatorProcess:
    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        namespaces: list[str],
        resync_seconds: float = 30,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.extra_args = extra_args
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.namespaces = namespaces
        self.resync_seconds = resync_seconds
        self.metrics_port = 0
        self.health_port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        self.metrics_port, self.health_port = free_port(), free_port()
        argv = [sys.executable, "-m", "djangostack_operator"]
        for namespace in self.namespaces:
            argv += ["--namespace", namespace]
        argv += [
            f"--metrics-port={self.metrics_port}",
            f"--health-port={self.health_port}",
            f"--resync-seconds={self.resync_seconds}",
            "--log-format=plain",
            *self.extra_args,
        ]
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"operator exited; see {self.log_path}")
            if self.healthy():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"operator not healthy in time; see {self.log_path}")

    def healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.health_port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            return str(reply.read().decode())

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples `name` whose labels include `labels` (0 when none)."""
        total = 0.0
        for family in text_string_to_metric_families(self.metrics()):
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    total += sample.value
        return total

    def write_requests(self) -> int:
        """API writes made so far, from the operator's own metrics."""
        return int(
            sum(self.metric("djangostack_api_requests_total", verb=verb) for verb in WRITE_VERBS)
        )

    def reconciles(self, result: str | None = None) -> int:
        labels = {"result": result} if result else {}
        return int(self.metric("controller_runtime_reconcile_total", **labels))

    def stop(self) -> None:
        """SIGTERM, as Kubernetes stops a pod; SIGKILL after 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
