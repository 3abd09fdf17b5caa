"""Celery: a real worker runs the task the API queues; a real beat schedules the heartbeat."""

from __future__ import annotations

from tests.app.conftest import Users, Web
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
