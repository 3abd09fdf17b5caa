"""The status half of the DjangoStack API: what the operator reports back.

Conditions follow the Kubernetes API conventions so that `kubectl wait --for=condition=Ready`,
kstatus, Flux and Argo CD read them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from djangostack_operator.spec import Model

Phase = Literal[
    "Pending",
    "Provisioning",
    "Restoring",
    "BackingUp",
    "Migrating",
    "Rolling",
    "Ready",
    "Degraded",
    "Stalled",
]
ConditionStatus = Literal["True", "False", "Unknown"]


class Reason(StrEnum):
    """Reasons of the failures the operator meets while writing (stable: for machines)."""

    # The API server refused a child (422 Invalid, 400, an admission webhook's denial).
    CHILD_REJECTED = "ChildRejected"
    # The API server forbade a write (RBAC, a quota, a namespace being deleted).
    FORBIDDEN = "Forbidden"
    # No answer, a server error, throttling or a conflict that persisted: retried.
    API_UNAVAILABLE = "APIUnavailable"
    # A bug of the operator's own; the message says what raised.
    INTERNAL_ERROR = "InternalError"
    # The stack fails the operator's models (a CRD older than the operator).
    INVALID_SPEC = "InvalidSpec"
    # Retrying a failed write after its backoff.
    RETRYING = "Retrying"
    # An object the stack would write belongs to another stack or to nobody the operator
    # knows (Stalled; the object is left alone).
    NAME_CONFLICT = "NameConflict"
    # A generated Secret is gone while data made with its values remains (Stalled; a new
    # password would not open the old database).
    SECRET_LOST = "SecretLost"
    # The stack asks for something the operator's policy does not allow (an Ingress
    # annotation off the allow-list): Stalled, the running children untouched.
    ANNOTATION_NOT_ALLOWED = "IngressAnnotationNotAllowed"


CONDITION_TYPES = (
    "Ready",
    "Reconciling",
    "Stalled",
    "DatabaseReady",
    "CacheReady",
    "Migrated",
    "WebAvailable",
    "WorkersAvailable",
    "BeatAvailable",
    "BackupSucceeded",
    "TLSReady",
)


class Condition(Model):
    type: Annotated[str, StringConstraints(max_length=316)] = Field(
        description="Condition type, e.g. Ready, Migrated, DatabaseReady."
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: Annotated[str, StringConstraints(max_length=1024)] = Field(
        description="One CamelCase word saying why (stable; for machines)."
    )
    message: Annotated[str, StringConstraints(max_length=32768)] = Field(
        "", description="What happened, for people."
    )
    observed_generation: int | None = Field(
        None, ge=0, description="The spec generation this condition was computed for."
    )
    last_transition_time: str = Field(
        description="When status last changed (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )


class Replicas(Model):
    desired: int = Field(0, ge=0, description="Pods wanted.")
    ready: int = Field(0, ge=0, description="Pods ready.")


class Components(Model):
    web: Replicas = Field(default_factory=Replicas, description="The gunicorn web tier.")
    workers: dict[str, Replicas] = Field(
        default_factory=dict, description="Each Celery worker pool by name."
    )
    beat: Replicas = Field(default_factory=Replicas, description="The celery beat scheduler.")
    database: Replicas = Field(
        default_factory=Replicas, description="Managed PostgreSQL (0/0 when external)."
    )
    redis: Replicas = Field(
        default_factory=Replicas, description="Managed Redis (0/0 when external)."
    )


class LastBackup(Model):
    time: str = Field(
        description="When the backup finished (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    name: str = Field(description="Name of the Job that took it.")
    size_bytes: int | None = Field(None, ge=0, description="Size of the compressed dump.")


class DjangoStackStatus(Model):
    """What the operator observed of the stack, written only by the operator: a phase, the
    kstatus conditions Ready, Reconciling and Stalled (plus one per component), the serving
    release, the newest backup and the pods of each component."""

    observed_generation: int | None = Field(
        None, description="The spec generation the status describes."
    )
    phase: Phase | None = Field(None, description="One word summary of the stack's state.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Reconciling, Stalled and one condition per component.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    url: str | None = Field(None, description="Where users reach the app.")
    released_image: str | None = Field(
        None, description="The image web, workers and beat run (migrated and rolled out)."
    )
    release_hash: str | None = Field(
        None, description="Hash of the image and migration command of the serving release."
    )
    last_backup: LastBackup | None = Field(None, description="The newest successful backup.")
    components: Components = Field(
        default_factory=Components, description="Desired and ready pods per component."
    )
