"""A real PostgreSQL server for tests: Debian's binaries, a throwaway cluster on a free port.

PostgreSQL refuses to run as root, so when the tests run as root (CI) the server runs as the
`postgres` user the Debian package creates. Connections go over TCP with a password
(scram-sha-256), as they do from a pod.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from djangostack_devcluster.cluster import free_port

SUPERUSER = "postgres"
PASSWORD = "test-only-superuser-password"


def find_bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    return None


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="djangostack-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str) -> None:
        subprocess.run([*self.as_user, *argv], check=True, capture_output=True, cwd=self.root)

    def start(self) -> PostgresServer:
        password_file = self.root / "pw"
        password_file.write_text(PASSWORD)
        if self.as_user:
            shutil.chown(password_file, "postgres")
        self._run(
            str(self.bin_dir / "initdb"),
            "-D", str(self.data),
            "-U", SUPERUSER,
            f"--pwfile={password_file}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--no-sync",
        )  # fmt: skip
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.root / "server.log"), "-w", "start",
        )  # fmt: skip
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def env(self, database: str = "postgres") -> dict[str, str]:
        """The libpq environment a client (backup.sh, psql, Django) connects with."""
        return {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": SUPERUSER,
            "PGPASSWORD": PASSWORD,
            "PGDATABASE": database,
        }

    def url(self, database: str = "postgres") -> str:
        return f"postgres://{SUPERUSER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql; returns unaligned, tuples-only output."""
        result = subprocess.run(
            ["psql", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            env={**os.environ, **self.env(database)},
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.psql("SELECT 1")
                return
            except subprocess.CalledProcessError:
                time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not answer; see {self.root / 'server.log'}")
