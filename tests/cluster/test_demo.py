"""`make demo` end to end, in its own state folder (its own control plane)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from djangostack_devcluster.cluster import COMPONENTS, LocalCluster


def demo(command: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "djangostack_devcluster.demo", command,
         f"--state-dir={state_dir}", "--timeout=180"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip


def pids(state_dir: Path) -> list[int]:
    return [json.loads(p.read_text())["pid"] for p in (state_dir / "run").glob("*.pid")]


def test_demo_reaches_ready_is_idempotent_and_stops_everything(
    tmp_path: Path, local_cluster: LocalCluster
) -> None:
    state = tmp_path / "demo"
    try:
        first = demo("up", state)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "phase=Ready" in first.stdout
        assert "The stack is Ready" in first.stdout
        running = pids(state)
        assert len(running) == len(COMPONENTS) + 1  # the control plane and the operator
        again = demo("up", state)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "the operator is already running" in again.stdout
        assert sorted(pids(state)) == sorted(running)
    finally:
        stopped = demo("down", state)
    assert stopped.returncode == 0
    for pid in running:
        assert (
            not os.path.exists(f"/proc/{pid}")
            or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )
