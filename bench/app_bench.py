"""Benchmark of the reference app under gunicorn (not a test; it prints figures).

Starts a PostgreSQL, a Redis and gunicorn exactly as the operator renders it (2 sync workers
by default), then for each endpoint runs C concurrent keep-alive-less clients for D seconds
and prints requests per second and latency percentiles:

- /healthz: the liveness probe, no I/O (gunicorn + Django's middleware stack);
- /api/items/: an authenticated (token) list of 20 items from PostgreSQL, JSON rendered.

    .venv/bin/python bench/app_bench.py                      # 8 clients, 10 s per endpoint
    .venv/bin/python bench/app_bench.py --clients 16 --seconds 20 --workers 4

The clients run on the same machine and take CPU from gunicorn: on 2 cores the figures are a
floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.app.conftest import contract_env  # noqa: E402
from tests.app.http import INGRESS_HEADERS, Client  # noqa: E402
from tests.app.processes import AppProcesses  # noqa: E402

from djangostack_devcluster.processes import free_port  # noqa: E402
from djangostack_devcluster.services import PostgresServer, RedisServer, find_bin_dir  # noqa: E402

ITEMS = 50


def load(
    port: int, path: str, headers: dict[str, str], clients: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        nonlocal errors
        mine: list[float] = []
        failed = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    failed += 1
            except OSError:
                failed += 1
            finally:
                connection.close()
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": cuts[49] * 1000,
        "p90": cuts[89] * 1000,
        "p99": cuts[98] * 1000,
        "errors": errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn workers (GUNICORN_WORKERS)"
    )
    args = parser.parse_args()

    bin_dir = find_bin_dir()
    if bin_dir is None:
        print("PostgreSQL is not installed: run `make bootstrap`", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="djangostack-app-bench-"))
    postgres = PostgresServer(bin_dir).start()
    redis = RedisServer("bench-redis-password").start()
    app = AppProcesses(root, contract_env(postgres, redis, "bench", root / "static"))
    try:
        postgres.wait_ready()
        app.manage("collectstatic", "--noinput")
        app.manage("migrate", "--noinput")
        created = app.manage(
            "shell", "--verbosity=0", "-c",
            "from django.contrib.auth import get_user_model; "
            "from rest_framework.authtoken.models import Token; from items.models import Item; "
            "u = get_user_model().objects.create_user('bench'); "
            "Item.objects.bulk_create("
            f"[Item(owner=u, title=f'item {{i}}', body='b') for i in range({ITEMS})]); "
            "print(Token.objects.create(user=u).key)",
        )  # fmt: skip
        token_value = created.stdout.split()[-1]
        port = free_port()
        app.start(
            "web",
            ["gunicorn", f"--bind=127.0.0.1:{port}", "config.wsgi:application"],
            env={"GUNICORN_WORKERS": str(args.workers), "GUNICORN_LOG_LEVEL": "warning"},
        )
        app.wait_ready("web", Client(port))
        api_headers = {**INGRESS_HEADERS, "Authorization": f"Token {token_value}"}
        probe_headers = {"Host": f"10.0.0.7:{port}"}
        rows = [
            ("/healthz", load(port, "/healthz", probe_headers, args.clients, args.seconds)),
            ("/api/items/", load(port, "/api/items/", api_headers, args.clients, args.seconds)),
        ]
    finally:
        app.stop_all()
        redis.stop()
        postgres.stop()

    print(f"\ngunicorn: {args.workers} sync workers; {args.clients} clients, {args.seconds:.0f} s")
    print("| endpoint | requests/s | p50 ms | p90 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for path, row in rows:
        print(
            f"| {path} | {row['rps']:.0f} | {row['p50']:.1f} | {row['p90']:.1f} | "
            f"{row['p99']:.1f} | {row['errors']:.0f} |"
        )
    print(json.dumps({path: row for path, row in rows}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
