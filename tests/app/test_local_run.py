"""`make app-up`: the operator's rendered pod specs, run as local processes, serve the app."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from djangostack_devcluster.localapp import DEFAULT_STACK, LocalApp
from djangostack_devcluster.processes import free_port
from tests.app.http import Client
from tests.conftest import postgres_bin_dir, require_redis_server
from tests.kube_helpers import wait_for


@pytest.fixture
def stack_file(tmp_path: Path) -> Path:
    """The minimal sample, on a free web port and with a fast beat heartbeat."""
    stack = yaml.safe_load(DEFAULT_STACK.read_text())
    stack["spec"]["web"] = {"port": free_port()}
    stack["spec"]["env"] = [{"name": "HEARTBEAT_INTERVAL_SECONDS", "value": "1"}]
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(stack))
    return path


@pytest.fixture
def local_app() -> Iterator[LocalApp]:
    postgres_bin_dir()
    require_redis_server()
    # Not under pytest's tmp_path: as root, PostgreSQL runs as the postgres user, which must
    # reach the state folder (pytest's base folder is private to root).
    state = Path(tempfile.mkdtemp(prefix="djangostack-app-"))
    state.chmod(0o755)
    app = LocalApp(state)
    try:
        yield app
    finally:
        app.down(quiet=True)
        shutil.rmtree(state, ignore_errors=True)


def test_rendered_stack_runs_end_to_end(local_app: LocalApp, stack_file: Path) -> None:
    url = local_app.up(stack_file, attached=True)
    port = int(url.rsplit(":", 1)[1])
    web = Client(port)
    readyz = web.direct().get("/readyz").json()
    assert readyz["status"] == "ok"
    assert all(check["ok"] for check in readyz["checks"].values())

    # A one-off pod with the migrations Job's environment creates a user.
    assert local_app.manage(stack_file, ["shell", "-c", CREATE_USER]) == 0
    token = web.post("/api/auth/token/", {"username": "carol", "password": PASSWORD}).json()
    carol = web.as_user(token["token"])

    item = carol.post("/api/items/", {"title": "made locally", "body": "by the rendered pods"})
    assert item.status == 201, item.text
    path = f"/api/items/{item.json()['id']}/"
    enriched = wait_for("the worker", lambda: (r := carol.get(path).json())["enriched_at"] and r)
    assert enriched["word_count"] == 6

    def beats() -> int:
        return int(web.get("/api/status/").json()["heartbeat"]["count"])

    first = wait_for("a heartbeat", beats)
    wait_for("beat to tick again", lambda: beats() > first)


def test_up_is_idempotent_and_down_stops_exactly_its_processes(
    local_app: LocalApp, stack_file: Path
) -> None:
    local_app.up(stack_file, attached=True)
    names = local_app.processes.names()
    assert names == ["web", "worker-default", "beat"]  # in start order
    pids = {name: local_app.processes.alive_pid(name) for name in names}
    assert all(pids.values())

    local_app.up(stack_file, attached=True)
    assert {name: local_app.processes.alive_pid(name) for name in names} == pids

    local_app.down()
    assert all(local_app.processes.alive_pid(name) is None for name in names)
    assert local_app.processes.names() == []
    assert (local_app.state_dir / "postgres" / "data" / "PG_VERSION").is_file()  # data kept


PASSWORD = "carol-local-run-password"
CREATE_USER = (
    "from django.contrib.auth import get_user_model; "
    f"get_user_model().objects.create_user('carol', password='{PASSWORD}')"
)
