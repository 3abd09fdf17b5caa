"""A client loop through the Ingress during a change: bounded in count and time, it stops by
itself, and it records every answer (or failure) with the release that served it."""

from __future__ import annotations

import datetime
import http.client
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from djangostack_devcluster.ingressclient import IngressClient


@dataclass(frozen=True)
class Answer:
    at: datetime.datetime  # wall clock (UTC), to compare with the API server's timestamps
    path: str
    status: int  # 0: no HTTP answer at all (connection refused or reset, TLS failure, timeout)
    release: str  # what /api/status/ said; "" for other paths and failures
    error: str = ""


@dataclass
class TrafficLoop:
    """GETs `paths` in turn through `client` until stopped, `max_requests` or `max_seconds`."""

    client: IngressClient
    paths: tuple[str, ...] = ("/api/status/", "/api/items/")
    max_requests: int = 5000
    max_seconds: float = 300
    answers: list[Answer] = field(default_factory=list)
    on_each: Callable[[], None] | None = None  # called between requests (sampling)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> TrafficLoop:
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        for count in range(self.max_requests):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            path = self.paths[count % len(self.paths)]
            self.answers.append(self._one(path))
            if self.on_each is not None:
                self.on_each()

    def _one(self, path: str) -> Answer:
        now = datetime.datetime.now(datetime.UTC)
        try:
            reply = self.client.request("GET", path, timeout=10)
        except (OSError, ssl.SSLError, http.client.HTTPException) as error:
            return Answer(now, path, 0, "", repr(error))
        release = ""
        if path == "/api/status/" and reply.status == 200:
            release = str(reply.json()["release"])
        error = "" if reply.status == 200 else reply.body[:200].decode(errors="replace")
        return Answer(now, path, reply.status, release, error)

    @property
    def failures(self) -> list[Answer]:
        return [answer for answer in self.answers if answer.status != 200]

    def summary(self) -> str:
        releases = sorted({a.release for a in self.answers if a.release})
        return (
            f"{len(self.answers)} requests through the Ingress, {len(self.failures)} failed; "
            f"releases seen: {', '.join(releases)}"
        )
