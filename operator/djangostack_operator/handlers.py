"""The only module with kopf decorators: settings, the runtime's life cycle, and triggers.

Every handler here is level-based and tiny: it hands the object to the runtime's caches
and adds its stack's key to the one work queue (controller.py). None of them reconciles,
retries or sleeps, so kopf stores no progress or diff-base annotations on users' objects
and puts no finalizer on them: deleting a stack never waits for the operator.

No kopf index is used on purpose: kopf holds back every handler of the operator until all
of its indexes have listed, and with namespace globs each new namespace adds to that set —
one slow or never-finishing listing (a namespace deleted while it was being listed) left
the whole operator deaf. The runtime's own start-up listing (controller.SyncGate) gives
the same guarantee per namespace instead.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from djangostack_operator.controller import Options, Runtime
from djangostack_operator.kinds import CHILD_KINDS, CONFIG_KINDS
from djangostack_operator.kube import Kube
from djangostack_operator.spec import GROUP, PLURAL, VERSION
from djangostack_operator.vocabulary import MANAGED_BY, OPERATOR

MANAGED = {MANAGED_BY: OPERATOR}


def runtime(memo: Any) -> Runtime:
    found: Runtime = memo.runtime
    return found


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    options: Options = memo.options
    # Only warnings become Events on their own; the runtime posts the Events that matter.
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = OPERATOR
    # Watches are re-opened every minute and a silent connection is dropped after 90 s, so
    # a half-open connection cannot leave a watch deaf for long.
    settings.watching.server_timeout = 60
    settings.watching.client_timeout = 90
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 10
    settings.networking.error_backoffs = (1, 2, 5, 10)
    # The resources are known, and namespace patterns are matched by the runtime (see
    # controller.Options.watch_cluster_wide): no watch of CRDs or Namespaces at all.
    settings.scanning.disabled = True
    # The client the command line loaded (and checked) before kopf started.
    memo.runtime = Runtime(options, Kube(memo.api_client))
    memo.runtime.start()


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    if getattr(memo, "runtime", None) is not None:
        runtime(memo).stop()


@kopf.on.probe(id="reconciler")
async def reconciler_health(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
    """Part of /healthz: fails (HTTP 500) when the workers are stuck or the stack watch is
    deaf. A permanent error, since kopf would otherwise retry the probe for a minute."""
    try:
        return runtime(memo).health()
    except RuntimeError as error:
        raise kopf.PermanentError(str(error)) from None


@kopf.on.event(GROUP, VERSION, PLURAL)
async def stack_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    runtime(memo).stack_changed(dict(body), type)


def _child_handler(kind: str) -> Any:
    async def child_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
        runtime(memo).child_changed(kind, dict(body), type)

    child_event.__name__ = f"{kind.lower()}_event"
    return child_event


def _config_handler(kind: str) -> Any:
    async def config_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
        runtime(memo).config_changed(kind, dict(body), type)

    config_event.__name__ = f"{kind.lower()}_config_event"
    return config_event


for _child in CHILD_KINDS:
    kopf.on.event(*_child.kopf_resource, id=f"child_{_child.plural}", labels=MANAGED)(
        _child_handler(_child.kind)
    )
for _config in CONFIG_KINDS:
    kopf.on.event(*_config.kopf_resource, id=f"config_{_config.plural}")(
        _config_handler(_config.kind)
    )
