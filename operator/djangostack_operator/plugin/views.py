"""What the plugin prints, made from plain API objects: aligned tables, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from djangostack_operator import vocabulary as keys
from djangostack_operator.render import meta
from djangostack_operator.render.datastore import POSTGRES, REDIS
from djangostack_operator.render.django import BEAT, MIGRATIONS, WEB, WORKER

# The order tiers are listed in, and the name `--tier` takes for each.
TIERS = (WEB, WORKER, BEAT, POSTGRES, REDIS)
LOG_TIERS = {"web": WEB, "worker": WORKER, "beat": BEAT, "migrate": MIGRATIONS}


@dataclass(frozen=True)
class PodLine:
    """One pod as `status` lists it."""

    name: str
    tier: str  # web, worker/<pool>, beat, postgres, redis, ...
    phase: str
    ready: bool
    restarts: int


@dataclass(frozen=True)
class Revision:
    """One rollout of the web tier: a ReplicaSet the Deployment keeps."""

    number: int
    image: str
    created: str
    pods: int


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, as kubectl prints them."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "   ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def tier_of(labels: dict[str, str]) -> str:
    component = labels.get(keys.COMPONENT, "?")
    pool = labels.get(meta.POOL_LABEL)
    return f"{component}/{pool}" if pool else component


def _pod_cell(pod: PodLine) -> str:
    state = pod.phase if not (pod.phase == "Running" and not pod.ready) else "Running, not ready"
    restarts = f", {pod.restarts} restarts" if pod.restarts else ""
    return f"{pod.name} ({state}{restarts})"


def _replicas(section: dict[str, Any] | None) -> str:
    section = section or {}
    return f"{section.get('ready', 0)}/{section.get('desired', 0)}"


def _tier_rows(status: dict[str, Any], pods: Sequence[PodLine]) -> list[list[str]]:
    components = status.get("components") or {}
    replicas = {
        WEB: components.get("web"),
        BEAT: components.get("beat"),
        POSTGRES: components.get("database"),
        REDIS: components.get("redis"),
    }
    for pool, counts in (components.get("workers") or {}).items():
        replicas[f"{WORKER}/{pool}"] = counts
    tiers = sorted(
        {*replicas, *(pod.tier for pod in pods)},
        key=lambda tier: (TIERS.index(t) if (t := tier.split("/")[0]) in TIERS else 9, tier),
    )
    rows = []
    for tier in tiers:
        members = [pod for pod in pods if pod.tier == tier]
        counts = _replicas(replicas[tier]) if tier in replicas else "-"
        rows.append([tier, counts, ", ".join(_pod_cell(pod) for pod in members) or "-"])
    return rows


def status_view(stack: dict[str, Any], pods: Sequence[PodLine]) -> str:
    """`status`: the phase, the release, the last backup, every condition, pods per tier."""
    metadata, spec = stack["metadata"], stack.get("spec") or {}
    status = stack.get("status") or {}
    phase = status.get("phase") or "(no status yet)"
    lines = [f"{metadata['name']} in {metadata['namespace']}: {phase}"]
    facts = [("URL", status.get("url") or "-"), ("Image", spec.get("image", "-"))]
    serving = status.get("releasedImage")
    if serving:
        facts.append(("Serving", f"{serving} (release {status.get('releaseHash', '?')})"))
    else:
        facts.append(("Serving", "no release migrated yet"))
    backup = status.get("lastBackup")
    if backup:
        size = f", {backup['sizeBytes']} bytes" if backup.get("sizeBytes") is not None else ""
        facts.append(("Last backup", f"{backup.get('time', '?')} by {backup.get('name')}{size}"))
    else:
        facts.append(("Last backup", "none yet"))
    stale = status.get("observedGeneration") != metadata.get("generation")
    if stale:
        facts.append(("Note", "the operator has not yet seen the latest spec"))
    width = max(len(label) for label, _ in facts) + 1
    lines.extend(f"{(label + ':').ljust(width)} {value}" for label, value in facts)
    conditions = [
        [c.get("type", ""), c.get("status", ""), c.get("reason", ""), c.get("message", "")]
        for c in status.get("conditions") or []
    ]
    lines += ["", table(["CONDITION", "STATUS", "REASON", "MESSAGE"], conditions)]
    lines += ["", table(["TIER", "READY", "PODS"], _tier_rows(status, pods))]
    return "\n".join(lines)


def releases_view(revisions: Sequence[Revision], migrations: Sequence[dict[str, Any]]) -> str:
    """`releases`: the web tier's rollouts (newest first) and the migrations Jobs kept."""
    newest = max((r.number for r in revisions if r.pods), default=None)
    rows = [
        [str(r.number), r.image, r.created, str(r.pods), "serving" if r.number == newest else ""]
        for r in sorted(revisions, key=lambda r: r.number, reverse=True)
    ]
    lines = [table(["REVISION", "IMAGE", "CREATED", "PODS", ""], rows) if rows else "no rollouts"]
    if migrations:
        job_rows = [
            [
                job["metadata"]["name"],
                (job["metadata"].get("annotations") or {}).get(meta.RELEASE_IMAGE, "?"),
                (job.get("status") or {}).get("startTime") or "-",
                _job_result(job),
            ]
            for job in migrations
        ]
        lines += ["", table(["MIGRATIONS JOB", "IMAGE", "STARTED", "RESULT"], job_rows)]
    return "\n".join(lines)


def _job_result(job: dict[str, Any]) -> str:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return "succeeded" if condition["type"] == "Complete" else "failed"
    return "running"


def backup_summary(termination_message: str) -> dict[str, str]:
    """`name=... sizeBytes=...`, as backup.sh leaves it in its termination message."""
    pairs = (item.partition("=") for item in termination_message.split())
    return {key: value for key, sep, value in pairs if sep}
