"""Real PostgreSQL and Redis servers from Debian's packages, on free loopback ports.

Used by the tests (a throwaway server per session) and by `make app-up` (a server whose data
stays in the app's state folder). PostgreSQL refuses to run as root, so when we run as root
(CI) its server runs as the `postgres` user the Debian package creates. Clients connect over
TCP with a password (scram-sha-256), as they do from a pod.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from djangostack_devcluster.processes import ProcessTable, free_port

SUPERUSER = "postgres"
PASSWORD = "test-only-superuser-password"


class ServiceError(RuntimeError):
    """A server did not start; the message says where its log is."""


def find_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps them per major version)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    return None


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quote_identifier(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


class PostgresServer:
    """One PostgreSQL cluster in `root` (a fresh temporary folder by default)."""

    def __init__(self, bin_dir: Path, root: Path | None = None, port: int | None = None) -> None:
        self.bin_dir = bin_dir
        self.root = root.resolve() if root else Path(tempfile.mkdtemp(prefix="djangostack-pg-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.data = self.root / "data"
        self.port = port or free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
            reachable = subprocess.run([*self.as_user, "test", "-w", str(self.root)], check=False)
            if reachable.returncode != 0:
                raise ServiceError(
                    f"{self.root}: the postgres user cannot reach this folder (a parent folder"
                    " is not traversable by others); choose a state folder elsewhere"
                )

    def _run(self, *argv: str) -> None:
        subprocess.run([*self.as_user, *argv], check=True, capture_output=True, cwd=self.root)

    def start(self) -> PostgresServer:
        """initdb (unless the data folder exists already), then start and wait."""
        if not (self.data / "PG_VERSION").is_file():
            self._initdb()
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        try:
            self._run(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options,
                "-l", str(self.root / "server.log"), "-w", "start",
            )  # fmt: skip
        except subprocess.CalledProcessError as error:
            raise ServiceError(f"PostgreSQL did not start; see {self.root / 'server.log'}") from (
                error
            )
        return self

    def _initdb(self) -> None:
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
        password_file.unlink()

    def is_running(self) -> bool:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status")
        except subprocess.CalledProcessError:
            return False
        return True

    def stop(self, remove: bool = True) -> None:
        """Stop the server; `remove` also deletes its folder (the default for throwaways)."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        if remove:
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

    def ensure_database(self, user: str, password: str, database: str) -> None:
        """A login role with this password owning this database (no superuser), as the
        managed PostgreSQL's postgres-app-role.sh creates them."""
        role, literal = _quote_identifier(user), _quote_literal(password)
        exists = self.psql(f"SELECT 1 FROM pg_roles WHERE rolname = {_quote_literal(user)}")
        verb = "ALTER" if exists else "CREATE"
        self.psql(f"{verb} ROLE {role} LOGIN PASSWORD {literal}")
        if not self.psql(f"SELECT 1 FROM pg_database WHERE datname = {_quote_literal(database)}"):
            self.psql(f"CREATE DATABASE {_quote_identifier(database)} OWNER {role}")

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.psql("SELECT 1")
                return
            except subprocess.CalledProcessError:
                time.sleep(0.2)
        raise ServiceError(f"PostgreSQL did not answer; see {self.root / 'server.log'}")


class RedisServer:
    """One redis-server with a password, its files in `root` (temporary by default)."""

    NAME = "redis"

    def __init__(
        self,
        password: str,
        root: Path | None = None,
        port: int | None = None,
        persistent: bool = False,
    ) -> None:
        self.password = password
        self.root = root.resolve() if root else Path(tempfile.mkdtemp(prefix="djangostack-redis-"))
        self.port = port or free_port()
        self.persistent = persistent
        self.processes = ProcessTable(self.root / "run", self.root / "logs")

    def start(self, attached: bool = True) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError("redis-server not found (Debian package redis-server)")
        config = self.root / "redis.conf"
        self.root.mkdir(parents=True, exist_ok=True)
        # The password goes into a 0600 file, not onto the command line (ps would show it).
        config.touch(mode=0o600)
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\nrequirepass {self.password}\n"
            f'dir {self.root}\nappendonly {"yes" if self.persistent else "no"}\nsave ""\n'
        )
        self.processes.start(self.NAME, [binary, str(config)], attached=attached)
        self.wait_ready()
        return self

    def is_running(self) -> bool:
        return self.processes.alive_pid(self.NAME) is not None

    def stop(self, remove: bool = True) -> None:
        self.processes.stop(self.NAME)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: int = 0) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{database}"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                reply = b""
                while b"PONG" not in reply and len(reply) < 1024:
                    chunk = sock.recv(1024)
                    if not chunk:
                        break
                    reply += chunk
                return b"+PONG" in reply
        except OSError:
            return False

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return
            if not self.is_running():
                break
            time.sleep(0.05)
        raise ServiceError(f"Redis did not answer; see {self.processes.log_path(self.NAME)}")
