"""`make app-up` / `make app-down`: the rendered stack as local processes.

Renders a DjangoStack with the operator's renderer, starts a local PostgreSQL and Redis with
the accounts the managed pods would have, runs the migrations Job's command to completion,
then web, the worker pools and beat (localrun.py turns each pod spec into a process), and
waits for web's /readyz. State (secrets, data, pid files, logs) lives in the state folder;
`down` stops exactly the processes recorded there and keeps the data.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from djangostack_devcluster import localrun
from djangostack_devcluster.processes import (
    ProcessError,
    ProcessTable,
    free_port,
    http_ok,
    isolated_env,
)
from djangostack_devcluster.services import PostgresServer, RedisServer, find_bin_dir
from djangostack_operator import secretgen, yamlio
from djangostack_operator.render import render
from djangostack_operator.render.secrets import generated_secrets
from djangostack_operator.spec import DjangoStack
from djangostack_operator.validation import parse_stack

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "app"
BUILD_ENV = APP_DIR / "build.env"
# What the image build does once (Dockerfile); here before every start.
COLLECTSTATIC = ("python", "manage.py", "collectstatic", "--noinput")


class LocalAppError(RuntimeError):
    """A step failed; the message names it and its log."""


def log(message: str) -> None:
    print(f"[app] {message}", file=sys.stderr, flush=True)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; # comments and blank lines ignored (the subset `set -a; .` reads)."""
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def load_stack(path: Path) -> DjangoStack:
    documents = yamlio.load_all(path.read_text())
    if len(documents) != 1:
        raise LocalAppError(f"{path}: expected one DjangoStack, found {len(documents)} documents")
    return parse_stack(documents[0])


def _secret_key(stored_name: str) -> tuple[str, str]:
    """ "<secret>/<key>" (how secrets.json names a value) -> (secret, key)."""
    secret, _, key = stored_name.partition("/")
    return secret, key


class LocalApp:
    def __init__(self, state_dir: Path, app_dir: Path = APP_DIR) -> None:
        self.state_dir = state_dir.resolve()
        self.app_dir = app_dir
        self.processes = ProcessTable(self.state_dir / "run", self.state_dir / "logs")

    # ---- state ------------------------------------------------------------------------

    def _json(self, name: str, make: Any) -> Any:
        """A JSON file of the state folder, created (0600) by `make()` the first time."""
        path = self.state_dir / name
        if path.exists():
            return json.loads(path.read_text())
        value = make()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(value, indent=2))
        return value

    def secrets(self, stack: DjangoStack) -> dict[tuple[str, str], str]:
        """Values for the Secrets the operator would generate, made once and kept."""
        wanted = [s for s in generated_secrets(stack) if s.kind == "random"]
        stored: dict[str, str] = self._json("secrets.json", dict)
        missing = {
            f"{secret.name}/{key}": secretgen.random_token()
            for secret in wanted
            for key in secret.keys
            if f"{secret.name}/{key}" not in stored
        }
        if missing:
            stored.update(missing)
            (self.state_dir / "secrets.json").write_text(json.dumps(stored, indent=2))
        return {_secret_key(name): value for name, value in stored.items()}

    def _ports(self) -> dict[str, int]:
        """The local servers' ports, chosen once and kept (their data stays too)."""
        ports: dict[str, int] = self._json(
            "ports.json", lambda: {"postgres": free_port(), "redis": free_port()}
        )
        return ports

    def _postgres(self) -> PostgresServer:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise LocalAppError("PostgreSQL is not installed (run `make bootstrap`)")
        port = self._ports()["postgres"]
        return PostgresServer(bin_dir, root=self.state_dir / "postgres", port=port)

    def _redis(self, password: str) -> RedisServer:
        port = self._ports()["redis"]
        return RedisServer(password, root=self.state_dir / "redis", port=port, persistent=True)

    # ---- up / down --------------------------------------------------------------------

    def is_running(self) -> bool:
        names = self.processes.names()
        return bool(names) and all(self.processes.alive_pid(name) for name in names)

    def _plan(self, stack_file: Path) -> tuple[localrun.LocalPlan, PostgresServer, RedisServer]:
        stack = load_stack(stack_file)
        objects = render(stack)
        secrets = self.secrets(stack)
        postgres = self._postgres()
        redis = self._redis(localrun.redis_password(objects, secrets))
        plan = localrun.plan(
            objects,
            secrets,
            {"postgres": ("127.0.0.1", postgres.port), "redis": ("127.0.0.1", redis.port)},
            self.state_dir / "pods",
        )
        return plan, postgres, redis

    def manage(self, stack_file: Path, args: list[str]) -> int:
        """`python manage.py <args>` in the migrations pod's environment (a one-off pod)."""
        plan, _, _ = self._plan(stack_file)
        for folder in plan.migrate.folders:
            folder.mkdir(parents=True, exist_ok=True)
        command = ["python", "manage.py", *args]
        return subprocess.run(
            command, env=self._process_env(plan.migrate.env), cwd=self.app_dir, check=False
        ).returncode

    def up(self, stack_file: Path, attached: bool = False, timeout: float = 120) -> str:
        """Start everything (idempotent); returns web's local URL."""
        plan, postgres, redis = self._plan(stack_file)
        web = next((p for p in plan.services if p.http_port is not None), None)
        url = f"http://127.0.0.1:{web.http_port}" if web else ""
        if self.is_running():
            log(f"already running: {url}")
            return url
        self.down(quiet=True)
        try:
            if not postgres.is_running():
                postgres.start()
            postgres.wait_ready()
            account = plan.database
            postgres.ensure_database(account.user, account.password, account.name)
            log(f"PostgreSQL on 127.0.0.1:{postgres.port} (database {account.name})")
            redis.start(attached=attached)
            log(f"Redis on 127.0.0.1:{redis.port}")
            self._run_to_completion("collectstatic", COLLECTSTATIC, read_env_file(BUILD_ENV))
            self._run_to_completion("migrate", plan.migrate.argv, plan.migrate.env, plan.migrate)
            for process in plan.services:
                self._start(process, attached)
            if web is not None:
                self._wait_ready(web, timeout)
        except BaseException:
            log("start failed; stopping what was started")
            self.down(quiet=True)
            raise
        log(f"web ready: {url}")
        return url

    def down(self, quiet: bool = False) -> None:
        """Stop the app processes (newest first), then Redis and PostgreSQL; keep the data."""
        for name in reversed(self.processes.names()):
            pid = self.processes.stop(name)
            if pid is not None and not quiet:
                log(f"stopped {name} (pid {pid})")
        if (self.state_dir / "ports.json").exists():
            self._redis(password="").stop(remove=False)  # the password only matters to start
            postgres = self._postgres()
            if postgres.data.is_dir():
                postgres.stop(remove=False)
            if not quiet:
                log("stopped Redis and PostgreSQL (data kept in " + str(self.state_dir) + ")")

    # ---- processes --------------------------------------------------------------------

    def _process_env(self, env: Mapping[str, str]) -> dict[str, str]:
        return isolated_env(env, home=self.state_dir)

    def _run_to_completion(
        self,
        name: str,
        argv: tuple[str, ...],
        env: Mapping[str, str],
        process: localrun.LocalProcess | None = None,
    ) -> None:
        for folder in process.folders if process else ():
            folder.mkdir(parents=True, exist_ok=True)
        log_path = self.processes.log_path(name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log(f"running {name}: {' '.join(argv)}")
        with log_path.open("ab") as log_file:
            result = subprocess.run(
                argv,
                env=self._process_env(env),
                cwd=self.app_dir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            raise LocalAppError(f"{name} failed (exit {result.returncode}); {log_path}:\n{tail}")

    def _start(self, process: localrun.LocalProcess, attached: bool) -> None:
        for folder in process.folders:
            folder.mkdir(parents=True, exist_ok=True)
        pid = self.processes.start(
            process.name,
            process.argv,
            env=self._process_env(process.env),
            cwd=self.app_dir,
            attached=attached,
        )
        log(f"started {process.name} (pid {pid}, log {self.processes.log_path(process.name)})")

    def _wait_ready(self, web: localrun.LocalProcess, timeout: float) -> None:
        url = f"http://127.0.0.1:{web.http_port}/readyz"
        self.processes.wait_until(web.name, lambda: http_ok(url), time.monotonic() + timeout)


DEFAULT_STATE = REPO / ".app"
DEFAULT_STACK = REPO / "manifests" / "samples" / "minimal.yaml"

HINTS = """\
Try:
  curl {url}/readyz
  curl {url}/api/status/ -H 'Host: {host}' -H 'X-Forwarded-Proto: https'
(the API answers only for DJANGO_ALLOWED_HOSTS and redirects plain HTTP, as behind the Ingress)
A user for the API and the admin:
  .venv/bin/python -m djangostack_devcluster.localapp manage createsuperuser
Logs: {logs}    Stop: make app-down"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m djangostack_devcluster.localapp")
    parser.add_argument("command", choices=("up", "down", "manage"))
    parser.add_argument("--stack", type=Path, default=DEFAULT_STACK, help="a DjangoStack file")
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="state folder")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="manage: manage.py arguments")
    args = parser.parse_args(argv)
    app = LocalApp(args.state)
    if args.command == "down":
        app.down()
        return 0
    if args.command == "manage":
        return app.manage(args.stack, args.args)
    try:
        url = app.up(args.stack)
    except (LocalAppError, localrun.LocalRunError, ProcessError) as error:
        log(str(error))
        return 1
    stack = load_stack(args.stack)
    host = stack.spec.ingress.host if stack.spec.ingress else "localhost"
    print(HINTS.format(url=url, host=host, logs=app.processes.logs_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
