"""Background processes we start, tracked by pid files, and stopped exactly.

A pid file records the pid and the process's start time (from /proc); a process is ours only
while both match, so a recycled pid is never signalled. Every process leads its own process
group, so stopping it also stops what it forked (gunicorn and celery workers, for example).
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

PR_SET_PDEATHSIG = 1


class ProcessError(RuntimeError):
    """A process we started exited, or did not get ready in time; the message names its log."""


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    """True when GET `url` answers 200 within 2 seconds."""
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as reply:
            return bool(reply.status == 200)
    except (OSError, urllib.error.URLError):
        return False


# The lowest port we hand out. Ports come from below the kernel's ephemeral range: a port
# from inside it, free when picked, can become the local end of any outbound connection of
# the machine before its listener binds it (CI saw an operator's health port taken so).
LOWEST_LISTEN_PORT = 10000
_handed_out: set[int] = set()


def ephemeral_ports() -> range:
    """The kernel's range of local ports for outbound connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default
    return range(int(low), int(high) + 1)


def free_port() -> int:
    """A TCP port no socket of this machine holds now, outside the ephemeral range, and not
    handed out before by this process (two calls in a row never get the same port)."""
    candidates = range(LOWEST_LISTEN_PORT, ephemeral_ports().start)
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.choice(candidates) if len(candidates) > 1000 else 0
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))  # every address: what a listener may bind
            except OSError:
                continue
            port = int(sock.getsockname()[1])
        _handed_out.add(port)
        return port
    raise ProcessError("no free TCP port below the ephemeral range")


def isolated_env(env: Mapping[str, str], home: Path) -> dict[str, str]:
    """`env` plus only what a process needs to start here: a PATH that finds this
    virtualenv's python, gunicorn and celery first, a HOME and a UTF-8 locale. Nothing else
    leaks in from our own environment, as nothing does into a container."""
    venv_bin = Path(sys.executable).parent
    return {
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        **env,
    }


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the process that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # Field 22 (starttime); the fields after the ")" of the command name start at 3.
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class ProcessTable:
    """The processes of one tool (the control plane, the local app), by name."""

    def __init__(self, run_dir: Path, logs_dir: Path) -> None:
        self.run_dir = run_dir
        self.logs_dir = logs_dir

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        attached: bool = False,
    ) -> int:
        """Start `argv` in the background (output to logs/<name>.log) and record it.

        `attached=True` ties it to this Python process: it gets SIGTERM when we die."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path(name).open("ab") as log_file:
            process = subprocess.Popen(
                list(argv),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # prctl() is async-signal-safe, so this preexec_fn is fine with threads.
                preexec_fn=_die_with_parent if attached else None,  # noqa: PLW1509
            )
        # "started" orders names(): file times are too coarse for processes started together.
        record = {"pid": process.pid, "start": _start_time(process.pid), "started": time.time_ns()}
        (self.run_dir / f"{name}.pid").write_text(json.dumps(record))
        return process.pid

    def alive_pid(self, name: str) -> int | None:
        """The pid of `name` if its pid file exists and that very process still runs."""
        try:
            record = json.loads((self.run_dir / f"{name}.pid").read_text())
            pid = int(record["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not _exists(pid) or _start_time(pid) != record.get("start"):
            return None
        return pid

    def names(self) -> list[str]:
        """Names with a pid file, oldest start first."""
        if not self.run_dir.is_dir():
            return []
        started = {}
        for path in self.run_dir.glob("*.pid"):
            try:
                started[path.stem] = int(json.loads(path.read_text()).get("started", 0))
            except (OSError, ValueError, AttributeError):
                started[path.stem] = 0
        return sorted(started, key=lambda name: (started[name], name))

    def wait_until(
        self,
        name: str,
        check: Callable[[], bool],
        deadline: float,
        tolerate: tuple[type[Exception], ...] = (OSError,),
    ) -> None:
        """Poll `check` until it is true; a ProcessError when `name` exits first or the
        monotonic `deadline` passes. Exceptions in `tolerate` count as "not yet"."""
        while True:
            if self.alive_pid(name) is None:
                raise ProcessError(f"{name} exited; see {self.log_path(name)}")
            try:
                if check():
                    return
            except tolerate:
                pass
            if time.monotonic() > deadline:
                raise ProcessError(f"{name} not ready in time; see {self.log_path(name)}")
            time.sleep(0.2)

    def stop(self, name: str, grace: float = 10) -> int | None:
        """Stop `name` (its whole process group) if it runs; returns the pid it had."""
        pid = self.alive_pid(name)
        if pid is not None:
            terminate(pid, grace)
        (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
        return pid


def terminate(pid: int, grace: float = 10) -> None:
    """SIGTERM the process group led by `pid`, SIGKILL it if it outlives `grace` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _exists(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while _exists(pid):
        time.sleep(0.05)


def _exists(pid: int) -> bool:
    """True while `pid` runs; reaps it when it is our own exited child."""
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # A zombie (state Z) has exited; only its parent can reap it.
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
