"""gunicorn settings of the reference app; gunicorn reads this file from its working directory.

The bind address comes from the command line (the operator renders --bind=0.0.0.0:<port>).
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

# gunicorn runs from the image's working directory; make the project importable from here.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from config.env import integer
from config.gunicorn_logging import JsonAccessLogger

workers = integer(os.environ, "GUNICORN_WORKERS", integer(os.environ, "WEB_CONCURRENCY", 2), 1)
threads = integer(os.environ, "GUNICORN_THREADS", 1, 1)
timeout = integer(os.environ, "GUNICORN_TIMEOUT", 30, 1)
graceful_timeout = 25  # within the pod's terminationGracePeriodSeconds (30)
keepalive = 5
# Recycle workers now and then so a slow leak never takes a pod down.
max_requests = 2000
max_requests_jitter = 200
# The heartbeat file lives in memory, not on the (read-only or slow) disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn >= 25 opens a control socket under $HOME by default; the root filesystem is
# read-only and nothing here uses it.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logger_class = JsonAccessLogger

# prometheus-client's multiprocess mode: every worker writes here, /metrics sums them up.
# Set before any worker imports prometheus_client; /tmp is the pod's emptyDir. The master's
# pid keeps two gunicorns on one machine (outside a pod) from counting each other.
metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(tempfile.gettempdir(), f"prometheus-multiproc-{os.getpid()}"),
)


def on_starting(server):  # type: ignore[no-untyped-def]
    """Start from an empty metrics folder: files of an earlier run would be counted again."""
    shutil.rmtree(metrics_dir, ignore_errors=True)
    os.makedirs(metrics_dir, exist_ok=True)


def on_exit(server):  # type: ignore[no-untyped-def]
    shutil.rmtree(metrics_dir, ignore_errors=True)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """Drop the live gauges of a dead worker (its counters stay summed in)."""
    # Imported here, after PROMETHEUS_MULTIPROC_DIR is set above.
    from prometheus_client import multiprocess  # noqa: PLC0415

    multiprocess.mark_process_dead(worker.pid)
