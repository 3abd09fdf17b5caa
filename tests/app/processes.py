"""The reference app's processes for tests: manage.py commands, gunicorn, celery."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from djangostack_devcluster.processes import ProcessError, ProcessTable, http_ok, isolated_env
from tests.app.http import Client

APP_DIR = Path(__file__).resolve().parents[2] / "app"
VENV_BIN = Path(sys.executable).parent


class AppProcesses:
    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        self.root = root
        # A private TMPDIR, as a pod's /tmp emptyDir: gunicorn keeps its metrics files there,
        # and two gunicorns sharing them would count each other's requests.
        (root / "tmp").mkdir(exist_ok=True)
        self.env = isolated_env({"TMPDIR": str(root / "tmp"), **env}, home=root)
        self.table = ProcessTable(root / "run", root / "logs")

    def manage(
        self, *args: str, env: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *args],
            cwd=APP_DIR,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
        return self.table.start(
            name, argv, env={**self.env, **(env or {})}, cwd=APP_DIR, attached=True
        )

    def log(self, name: str) -> str:
        path = self.table.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for name in self.table.names():
            self.table.stop(name)

    def wait_ready(self, name: str, client: Client, timeout: float = 60) -> None:
        """Until /readyz answers 200 (fails early, with the log, when the process died)."""
        url = f"http://127.0.0.1:{client.port}/readyz"
        try:
            self.table.wait_until(name, lambda: http_ok(url), time.monotonic() + timeout)
        except ProcessError as error:
            raise AssertionError(f"{error}:\n{self.log(name)[-3000:]}") from None
