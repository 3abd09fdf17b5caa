"""Run the operator: kopf in standalone mode, metrics and liveness on their own ports."""

from __future__ import annotations

import logging

import kopf
import prometheus_client
from kubernetes import client

from djangostack_operator.controller import Options


def run(
    options: Options,
    api_client: client.ApiClient,
    *,
    metrics_port: int,
    health_port: int,
    log_format: str,
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
    from djangostack_operator import handlers  # noqa: F401, PLC0415

    kopf.run(
        # Replicas coordinate through a Lease (controller.Options.leader_election), not
        # through kopf's peering objects.
        standalone=True,
        clusterwide=options.watch_cluster_wide,
        namespaces=[] if options.watch_cluster_wide else list(options.namespaces),
        memo=kopf.Memo(options=options, api_client=api_client),
        liveness_endpoint=f"http://0.0.0.0:{health_port}/healthz" if health_port else None,
    )
