"""The items API through gunicorn, against the real PostgreSQL and Redis."""

from __future__ import annotations

from tests.app.conftest import Users, Web


def test_api_refuses_anonymous_requests(web: Web) -> None:
    reply = web.client.get("/api/items/")
    assert reply.status == 401
    assert reply.json() == {"detail": "Authentication credentials were not provided."}


def test_token_endpoint_rejects_a_wrong_password(web: Web, users: Users) -> None:
    reply = web.client.post("/api/auth/token/", {"username": "alice", "password": "wrong"})
    assert reply.status == 400
    assert "non_field_errors" in reply.json()


def test_create_retrieve_update_delete(users: Users) -> None:
    created = users.alice.post("/api/items/", {"title": "Buy milk", "body": "two litres"})
    assert created.status == 201, created.text
    item = created.json()
    assert item["owner"] == "alice"
    assert (item["title"], item["body"]) == ("Buy milk", "two litres")
    path = f"/api/items/{item['id']}/"

    assert users.alice.get(path).json()["title"] == "Buy milk"

    patched = users.alice.request("PATCH", path, {"title": "Buy oat milk"})
    assert patched.status == 200, patched.text
    assert patched.json()["title"] == "Buy oat milk"
    assert patched.json()["body"] == "two litres"

    replaced = users.alice.request("PUT", path, {"title": "Buy bread", "body": ""})
    assert replaced.status == 200, replaced.text
    assert users.alice.get(path).json()["title"] == "Buy bread"

    assert users.alice.request("DELETE", path).status == 204
    assert users.alice.get(path).status == 404


def test_validation_errors_are_json_and_name_the_field(users: Users) -> None:
    blank = users.alice.post("/api/items/", {"title": "", "body": "x"})
    assert blank.status == 400
    assert blank.json() == {"title": ["This field may not be blank."]}

    too_long = users.alice.post("/api/items/", {"title": "x" * 201})
    assert too_long.status == 400
    assert list(too_long.json()) == ["title"]

    missing = users.alice.post("/api/items/", {"body": "no title"})
    assert missing.status == 400
    assert missing.json() == {"title": ["This field is required."]}

    not_json = users.alice.request(
        "POST", "/api/items/", raw=b"{", headers={"Content-Type": "application/json"}
    )
    assert not_json.status == 400
    assert "JSON parse error" in not_json.json()["detail"]


def test_read_only_fields_are_ignored_on_write(users: Users) -> None:
    reply = users.alice.post("/api/items/", {"title": "sneaky", "owner": "bob", "word_count": 999})
    assert reply.status == 201
    assert reply.json()["owner"] == "alice"
    assert reply.json()["word_count"] is None


def test_users_see_and_change_only_their_own_items(users: Users) -> None:
    item = users.alice.post("/api/items/", {"title": "alice's secret"}).json()
    path = f"/api/items/{item['id']}/"

    assert users.bob.get(path).status == 404
    assert users.bob.request("PATCH", path, {"title": "mine now"}).status == 404
    assert users.bob.request("DELETE", path).status == 404
    bob_titles = [entry["title"] for entry in users.bob.get("/api/items/").json()["results"]]
    assert "alice's secret" not in bob_titles
    assert users.alice.get(path).json()["title"] == "alice's secret"


def test_list_is_paginated_newest_first(users: Users) -> None:
    for number in range(21):
        assert users.bob.post("/api/items/", {"title": f"page item {number}"}).status == 201

    first = users.bob.get("/api/items/").json()
    assert first["count"] >= 21
    assert len(first["results"]) == 20
    assert first["results"][0]["title"] == "page item 20"
    assert first["next"].endswith("/api/items/?page=2")
    assert first["next"].startswith("https://shop.example.com/")  # as seen through the Ingress
    second = users.bob.get("/api/items/?page=2").json()
    assert second["results"]
    assert second["previous"] is not None


def test_create_api_token_makes_a_token_user_and_is_idempotent(web: Web) -> None:
    first = web.processes.manage("create_api_token", "carol").stdout.strip()
    again = web.processes.manage("create_api_token", "carol").stdout.strip()
    assert first == again and len(first) == 40
    carol = web.client.as_user(first)
    created = carol.post("/api/items/", {"title": "from a script"})
    assert created.status == 201, created.text
    assert created.json()["owner"] == "carol"
    # The user has no password: the token endpoint cannot be used to sign in as it.
    reply = web.client.post("/api/auth/token/", {"username": "carol", "password": ""})
    assert reply.status == 400


def test_the_token_endpoint_throttles_password_guessing_per_client(web: Web) -> None:
    """10 attempts a minute per client address (the last X-Forwarded-For entry, which the
    Ingress controller adds), counted in Redis across gunicorn workers."""
    guesser = {"X-Forwarded-For": "198.51.100.23"}
    answers = [
        web.client.post("/api/auth/token/", {"username": "alice", "password": f"guess-{n}"},
                        headers=guesser).status
        for n in range(12)
    ]  # fmt: skip
    assert answers == [400] * 10 + [429] * 2
    # Another client is not affected.
    other = web.client.post("/api/auth/token/", {"username": "alice", "password": "x"},
                            headers={"X-Forwarded-For": "198.51.100.24"})  # fmt: skip
    assert other.status == 400
