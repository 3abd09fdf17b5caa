"""Celery: a real worker runs the task the API queues; a real beat schedules the heartbeat."""

from __future__ import annotations

import os
import signal
import subprocess

from djangostack_operator.render import RenderContext, django
from tests.app.conftest import Users, Web
from tests.app.processes import APP_DIR, AppProcesses
from tests.factories import make_stack
from tests.kube_helpers import wait_for


def test_worker_enriches_a_created_item(users: Users, worker: None) -> None:
    item = users.alice.post(
        "/api/items/", {"title": "three word title", "body": "and four more words"}
    )
    assert item.status == 201
    assert item.json()["enriched_at"] is None
    path = f"/api/items/{item.json()['id']}/"

    enriched = wait_for(
        "the worker to enrich the item",
        lambda: (reply := users.alice.get(path).json())["enriched_at"] and reply,
    )
    assert enriched["word_count"] == 7


def test_changing_an_item_queues_a_new_enrichment(users: Users, worker: None) -> None:
    item = users.alice.post("/api/items/", {"title": "one"}).json()
    path = f"/api/items/{item['id']}/"
    wait_for("first enrichment", lambda: users.alice.get(path).json()["word_count"] == 1)

    users.alice.request("PATCH", path, {"body": "two three"})
    wait_for("second enrichment", lambda: users.alice.get(path).json()["word_count"] == 3)


def test_beat_heartbeat_advances(web: Web, worker: None, beat: None) -> None:
    """The heartbeat is scheduled by beat and recorded by a worker, every second here."""

    def heartbeat() -> dict[str, object]:
        reply = web.client.get("/api/status/")
        assert reply.status == 200
        return dict(reply.json()["heartbeat"])

    first = wait_for("a first heartbeat", lambda: (beat_ := heartbeat())["lastRun"] and beat_)
    later = wait_for(
        "the heartbeat to advance",
        lambda: (beat_ := heartbeat())["count"] > first["count"] and beat_,  # type: ignore[operator]
    )
    assert str(later["lastRun"]) > str(first["lastRun"])
    assert later["ageSeconds"] is not None


def test_worker_liveness_probe_fails_only_for_a_hung_worker(
    app: AppProcesses, worker: None
) -> None:
    """The probe command exactly as the operator renders it for the fixture's pool (default,
    node default@<hostname>), run with the worker's environment as the kubelet would."""
    [deployment] = django.worker_deployments(make_stack(), RenderContext())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    command = container["livenessProbe"]["exec"]["command"]

    def probe() -> int:
        return subprocess.run(
            command, cwd=APP_DIR, env=app.env, capture_output=True, timeout=60, check=False
        ).returncode

    wait_for("the worker to answer its liveness ping", lambda: probe() == 0, timeout=90)
    pid = app.table.alive_pid("worker")
    assert pid is not None
    # A hung main process (stopped: it reads no control message) fails the probe...
    os.kill(pid, signal.SIGSTOP)
    try:
        assert probe() == 1
    finally:
        os.kill(pid, signal.SIGCONT)
    # ...and the same worker passes again once it answers.
    wait_for("the worker to answer again", lambda: probe() == 0, timeout=60)
