"""What gunicorn serves besides the API: probes, metrics, static files, the admin, security."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from djangostack_devcluster.processes import free_port
from djangostack_devcluster.services import RedisServer
from tests.app.conftest import REDIS_DATABASE, RELEASE, Users, Web
from tests.app.http import Client
from tests.app.processes import AppProcesses


def test_probes_answer_direct_requests_whatever_the_host(web: Web) -> None:
    direct = web.client.direct()  # the kubelet: pod IP as Host, plain HTTP
    healthz = direct.get("/healthz")
    assert (healthz.status, healthz.json()) == (200, {"status": "ok"})

    readyz = direct.get("/readyz")
    assert readyz.status == 200
    body = readyz.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["ok"] for check in body["checks"].values())


def test_the_status_says_which_release_answered(web: Web) -> None:
    assert web.client.get("/api/status/").json()["release"] == RELEASE


def test_unknown_hosts_are_refused(web: Web) -> None:
    reply = web.client.get("/api/status/", headers={"Host": "evil.example.net"})
    assert reply.status == 400


def test_plain_http_is_redirected_to_https(web: Web) -> None:
    reply = web.client.get("/api/status/", headers={"X-Forwarded-Proto": "http"})
    assert reply.status == 301
    assert reply.headers["Location"] == "https://shop.example.com/api/status/"


def test_https_responses_carry_security_headers(web: Web) -> None:
    reply = web.client.get("/api/status/")
    # A year, as production wants it (and subdomains, not preload: the domain owner's call).
    assert reply.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["X-Frame-Options"] == "DENY"


def _counter(text: str, name: str, **labels: str) -> float:
    """The sample of counter `name` with exactly these labels in an exposition (0 if none)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_metrics_sum_requests_over_every_gunicorn_worker(users: Users, web: Web) -> None:
    direct = web.scraper
    labels = {"method": "GET", "route": "api/status/", "status": "200"}
    before = _counter(direct.get("/metrics").text, "django_http_requests_total", **labels)
    requests = 12
    for _ in range(requests):
        assert web.client.get("/api/status/").status == 200
    metrics = direct.get("/metrics")
    assert metrics.status == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    after = _counter(metrics.text, "django_http_requests_total", **labels)
    # Each worker writes its own file; the sum is only right when all are collected.
    assert after - before == requests
    assert "django_http_request_duration_seconds_bucket" in metrics.text


def test_metrics_are_served_on_the_metrics_port_only_and_it_serves_nothing_else(web: Web) -> None:
    """Not a header: which listener the connection reached. Neither through the Ingress nor
    directly at the app's port is there a /metrics; the metrics port serves nothing but it."""
    assert web.client.get("/metrics").status == 404
    assert web.client.direct().get("/metrics").status == 404
    assert web.scraper.get("/metrics").status == 200
    for path in ("/api/status/", "/readyz", "/healthz", "/admin/"):
        assert web.scraper.get(path).status == 404, path


def test_static_files_are_served_by_the_app(web: Web) -> None:
    login = web.client.get("/admin/login/")
    assert login.status == 200
    stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]+\.css)"', login.text)
    assert stylesheet, "the admin should link the hashed (collected) stylesheet"
    reply = web.client.get(stylesheet.group(1))
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/css")
    assert "immutable" in reply.headers.get("Cache-Control", "")


def test_admin_login_keeps_the_session_in_redis(
    users: Users, web: Web, redis_server: RedisServer
) -> None:
    form = web.client.get("/admin/login/")
    csrf_cookie = re.search(r"csrftoken=([^;]+)", form.headers["Set-Cookie"])
    csrf_field = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert csrf_cookie and csrf_field
    assert "Secure" in form.headers["Set-Cookie"]

    body = urllib.parse.urlencode(
        {
            "username": "alice",
            "password": users.alice_password,
            "csrfmiddlewaretoken": csrf_field.group(1),
            "next": "/admin/",
        }
    ).encode()
    login = web.client.request(
        "POST",
        "/admin/login/",
        raw=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie.group(1)}",
            "Referer": "https://shop.example.com/admin/login/",
        },
    )
    assert login.status == 302, login.text[-2000:]
    cookies = login.headers.get_all("Set-Cookie") or []
    session = next(re.search(r"sessionid=([^;]+)", c) for c in cookies if "sessionid=" in c)
    assert session

    keys = redis_keys(redis_server, f"*django.contrib.sessions.cache{session.group(1)}")
    assert keys, "the session should be stored in the Redis cache"
    admin = web.client.get("/admin/", headers={"Cookie": f"sessionid={session.group(1)}"})
    assert admin.status == 200
    assert "Site administration" in admin.text


def redis_keys(redis_server: RedisServer, pattern: str) -> list[bytes]:
    import redis  # noqa: PLC0415 - the app's client library, only needed here

    client = redis.Redis.from_url(redis_server.url(REDIS_DATABASE))
    return list(client.scan_iter(match=pattern))


def test_gunicorn_starts_from_an_empty_metrics_folder(app: AppProcesses, tmp_path: Path) -> None:
    """Samples left by an earlier gunicorn (a restarted container keeps its emptyDir) must
    not be counted again."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    stale = (
        "from prometheus_client import Counter; "
        "Counter('django_http_requests_total', '', ['method', 'route', 'status'])"
        ".labels('GET', 'api/status/', '200').inc(1000)"
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    subprocess.run([sys.executable, "-c", stale], env={**app.env, **env}, check=True)
    assert list(folder.glob("counter_*.db"))

    port = free_port()
    app.start(
        "web-restarted",
        ["gunicorn", f"--bind=127.0.0.1:{port}", "config.wsgi:application"],
        env={**env, "GUNICORN_WORKERS": "1"},
    )
    client = Client(port)
    try:
        app.wait_ready("web-restarted", client)
        assert client.get("/api/status/").status == 200
        labels = {"method": "GET", "route": "api/status/", "status": "200"}
        text = client.direct().get("/metrics").text
        assert _counter(text, "django_http_requests_total", **labels) == 1
    finally:
        app.table.stop("web-restarted")
