"""`make demo` as a newcomer runs it: in a clean checkout (a `git clone` of this repository's
committed state), on the machine's real node, ending with a curl command that answers."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from djangostack_devcluster.cluster import LocalCluster
from tests.factories import REPO


def make(checkout: Path, target: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    return subprocess.run(
        ["make", target], cwd=checkout, env=env, capture_output=True, text=True, check=False,
        timeout=1800,
    )  # fmt: skip


def pids(state_dir: Path) -> list[int]:
    return [json.loads(p.read_text())["pid"] for p in (state_dir / "run").glob("*.pid")]


def printed_curl(output: str, path: str) -> list[str]:
    (line,) = [line.strip() for line in output.splitlines()
               if line.strip().startswith("curl ") and line.strip().endswith(path)]  # fmt: skip
    return shlex.split(line)


@pytest.mark.owns_real_node
@pytest.mark.timeout(1800)  # a clean checkout bootstraps its own virtualenv first
def test_make_demo_on_a_clean_checkout_serves_https_and_is_idempotent(
    exclusive_real_node: list[LocalCluster], tmp_path: Path
) -> None:
    checkout = tmp_path / "a-checkout-in-a-folder-as-deep-as-a-developer-might-keep-one"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(checkout)], check=True)
    state = checkout / ".cluster"
    running: list[int] = []
    try:
        first = make(checkout, "demo")
        output = first.stdout + first.stderr
        assert first.returncode == 0, output[-5000:]
        assert "phase=Ready" in first.stdout
        running = pids(state)
        # The printed command, as printed, answers 200 (its CA file, its --resolve).
        curl = printed_curl(first.stdout, "/readyz")
        answer = subprocess.run(
            [*curl, "--silent", "--show-error", "--output", "/dev/null",
             "--write-out", "%{http_code}"],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        assert answer.stdout == "200", answer.stderr

        again = make(checkout, "demo")
        assert again.returncode == 0, (again.stdout + again.stderr)[-5000:]
        assert "already running" in again.stdout + again.stderr
        assert sorted(pids(state)) == sorted(running)
    finally:
        stopped = make(checkout, "demo-down")
    assert stopped.returncode == 0, stopped.stderr
    for pid in running:
        assert (
            not os.path.exists(f"/proc/{pid}")
            or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )
    leftovers = subprocess.run(
        [str(checkout / ".venv" / "bin" / "python"), "-m", "djangostack_devcluster", "leftovers"],
        cwd=checkout, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert leftovers.returncode == 0, leftovers.stdout
