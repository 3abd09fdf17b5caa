"""Run the operator: kopf in standalone mode, metrics and liveness on their own ports."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import kopf
import prometheus_client


def run(
    *,
    namespaces: Sequence[str],
    all_namespaces: bool,
    metrics_port: int,
    health_port: int,
    log_format: str,
    resync_seconds: float,
    verbose: bool = False,
) -> None:
    formats = {"json": kopf.LogFormat.JSON, "plain": kopf.LogFormat.FULL}
    kopf.configure(verbose=verbose, log_format=formats[log_format], log_refkey="stack")
    if not verbose:
        # kopf reports every handler run at INFO; the operator logs what it changed instead.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if metrics_port:
        prometheus_client.start_http_server(metrics_port)
    # Importing the module registers the handlers with kopf.
    from djangostack_operator import handlers  # noqa: PLC0415

    handlers.RESYNC_SECONDS = resync_seconds
    handlers.NAMESPACE_GLOBS = any(mark in name for name in namespaces for mark in "*?!,")
    kopf.run(
        # One operator replica (Deployment with Recreate): no peering objects needed.
        standalone=True,
        clusterwide=all_namespaces,
        namespaces=list(namespaces),
        liveness_endpoint=f"http://0.0.0.0:{health_port}/healthz" if health_port else None,
    )
