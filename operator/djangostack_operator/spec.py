"""The DjangoStack API (djangostack.io/v1alpha1) as frozen pydantic models.

These models are the single source of truth: the CRD (crd.py) is generated from them, the
renderer reads them, and `djangostack render` validates files with them. Field names are
camelCase on the wire (aliases) and snake_case in Python. Every field has a description,
which becomes `kubectl explain` text.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import zoneinfo
from collections.abc import Callable
from functools import cache, cached_property
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from djangostack_operator import cron, quantity
from djangostack_operator import vocabulary as keys
from djangostack_operator.rules import Rule, RuledModel, RuleError, field_rule, field_rules

GROUP = "djangostack.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "DjangoStack"
PLURAL = "djangostacks"

# Names derived from the stack name must stay valid: the longest are `<name>-postgres-headless`
# (a Service name, at most 63) and CronJob Job names `<name>-backup-<8 digits>` (at most 63).
MAX_STACK_NAME = 40
MAX_POOL_NAME = 15

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# A DNS subdomain (RFC 1123): labels of at most 63 characters, as the API checks them.
DNS_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
# The stack name: an RFC 1035 label (it names Services, which must start with a letter)
# that cannot end in, or hold, `-worker-`: pool Deployments are `<stack>-worker-<pool>`, so
# stack `shop-worker-x` and stack `shop` with pool `x-web` would both want `shop-worker-x-web`.
STACK_NAME = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
RESERVED_INFIX = "-worker"
# A Kubernetes resource quantity without a sign, e.g. 100m, 1.5, 256Mi, 10Gi.
QUANTITY = quantity.GRAMMAR
CRON = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$"
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
ENV_PREFIX = r"^([-._a-zA-Z][-._a-zA-Z0-9]*)?$"
# Keys of Secrets and ConfigMaps, as the API checks them.
CONFIG_KEY = r"^[-._a-zA-Z0-9]+$"
PYTHON_MODULE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
# A qualified name (label keys): an optional DNS-subdomain prefix and a name of at most 63.
QUALIFIED_NAME = (
    r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
# Annotation keys: qualified names, checked by the API after lowercasing them.
ANNOTATION_KEY = (
    r"^([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
# The operator's own annotations: a user's value there would undo the operator's record.
RESERVED_ANNOTATION_PREFIX = "djangostack.io/"
# An image reference (distribution's grammar): [host[:port]/]path[:tag][@digest].
IMAGE_REFERENCE = (
    r"^([a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*"
    r"(:[0-9]+)?/)?[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)
# A pinned image: a tag (not `latest`) or a digest. Releases are keyed by the image string,
# so a moving tag would make "which release is serving" meaningless.
IMAGE_PINNED = r"(@sha256:[0-9a-f]{64}$)|(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$)"
# The pod fields an environment variable may take (the Pod API's downward API for env).
FIELD_PATH = (
    r"^(metadata\.(name|namespace|uid)|spec\.(nodeName|serviceAccountName)"
    r"|status\.(hostIP|hostIPs|podIP|podIPs)"
    rf"|metadata\.(labels|annotations)\['{QUALIFIED_NAME[1:-1]}'\])$"
)
# An IANA time zone name's shape; the operator checks the name against the time zone database.
TIME_ZONE = r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$"

DEFAULT_POSTGRES_IMAGE = "postgres:17.12-trixie"
DEFAULT_REDIS_IMAGE = "redis:7.0.15-bookworm"


def _valid_cron(schedule: str) -> str:
    """The CRD's pattern only checks the shape (CEL cannot parse cron); the CronJob API
    would refuse an expression like `99 99 * * *`, so the models refuse it first."""
    problem = cron.schedule_error(schedule)
    if problem is not None:
        raise RuleError("", f"must be a cron schedule the CronJob API accepts: {problem}")
    return schedule


CronSchedule = Annotated[
    str, StringConstraints(pattern=CRON, max_length=100), AfterValidator(_valid_cron)
]


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _valid_time_zone(name: str) -> str:
    """CEL has no time zone database; the CronJob API refuses an unknown zone and `Local`."""
    if name not in _time_zones():
        raise RuleError("", f"{name} is not an IANA time zone (e.g. Europe/Berlin, UTC)")
    return name


TimeZone = Annotated[
    str,
    StringConstraints(pattern=TIME_ZONE, min_length=1, max_length=64),
    AfterValidator(_valid_time_zone),
]


def image_is_pinned(image: str) -> bool:
    return bool(re.search(IMAGE_PINNED, image)) and not image.endswith(":latest")


def _canonical_quantity(text: str) -> str:
    """The value as the API server stores it (`0.1` -> `100m`), so that what the renderer
    writes equals what it reads back and an idle stack is never rewritten."""
    try:
        return quantity.canonical(text)
    except ValueError as error:
        raise RuleError("", str(error)) from None


DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL, max_length=63)]
DnsName = Annotated[str, StringConstraints(pattern=DNS_NAME, max_length=253)]
Quantity = Annotated[
    str, StringConstraints(pattern=QUANTITY, max_length=64), AfterValidator(_canonical_quantity)
]
# A volume size: a quantity above zero (the PersistentVolumeClaim API refuses 0).
Storage = Annotated[
    Quantity,
    *field_rule(
        "isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))",
        "must be greater than zero",
        lambda text: quantity.parse(text).value > 0,
    ),
]
ConfigKey = Annotated[str, StringConstraints(pattern=CONFIG_KEY, min_length=1, max_length=253)]
ImageRef = Annotated[
    str,
    StringConstraints(pattern=IMAGE_REFERENCE, min_length=1, max_length=512),
    *field_rule(
        f"self.matches(r'{IMAGE_PINNED}') && !self.endsWith(':latest')",
        "must be pinned to a tag other than latest, or to a digest",
        image_is_pinned,
    ),
]


def _annotation_keys_ok(annotations: dict[str, str]) -> bool:
    return all(
        re.match(ANNOTATION_KEY, key) and not key.startswith(RESERVED_ANNOTATION_PREFIX)
        for key in annotations
    )


# Annotations a user adds to the operator's objects. 64 entries of at most 3,500 characters
# stay under the API's 256 KiB limit on one object's annotations, the operator's included.
Annotations = Annotated[
    dict[
        Annotated[str, StringConstraints(max_length=317)],
        Annotated[str, StringConstraints(max_length=3500)],
    ],
    Field(max_length=64),
    *field_rule(
        f"self.all(k, k.matches(r'{ANNOTATION_KEY}')"
        f" && !k.startsWith('{RESERVED_ANNOTATION_PREFIX}'))",
        "keys must be annotation names (an optional DNS prefix and /, then at most 63 letters,"
        f" digits, -, _ or .), not under {RESERVED_ANNOTATION_PREFIX}",
        _annotation_keys_ok,
    ),
]


class Model(BaseModel):
    """Base of every API model: frozen, camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        frozen=True,
        # No coercion: `replicas: "2"` is refused, as the API server refuses it.
        strict=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=False,
    )


class RuledApiModel(Model, RuledModel):
    """An API model with cross-field rules (see rules.py)."""


# ---- shared building blocks ----------------------------------------------------------------


class ResourceList(Model):
    cpu: Quantity | None = Field(None, description="CPU, e.g. 250m or 1.")
    memory: Quantity | None = Field(None, description="Memory, e.g. 256Mi or 1Gi.")


def _within_limit(requests: ResourceList, limits: ResourceList, resource: str) -> bool:
    request, limit = getattr(requests, resource), getattr(limits, resource)
    return (
        request is None
        or limit is None
        or quantity.parse(request).value <= quantity.parse(limit).value
    )


def _within_limit_check(resource: str) -> Callable[[Any], bool]:
    return lambda model: _within_limit(model.requests, model.limits, resource)


def _within_limit_cel(resource: str) -> str:
    request, limit = f"self.requests.{resource}", f"self.limits.{resource}"
    return (
        f"!has(self.requests.{resource}) || !has(self.limits.{resource})"
        f" || !isQuantity({request}) || !isQuantity({limit})"
        f" || quantity({request}).compareTo(quantity({limit})) <= 0"
    )


class Resources(RuledApiModel):
    requests: ResourceList = Field(
        default_factory=ResourceList, description="What the scheduler reserves for the container."
    )
    limits: ResourceList = Field(
        default_factory=ResourceList, description="The most the container may use."
    )

    __rules__ = tuple(
        Rule(
            cel=_within_limit_cel(resource),
            message=f"requests.{resource} must be <= limits.{resource}",
            check=_within_limit_check(resource),
            field=f"requests.{resource}",
        )
        for resource in ("cpu", "memory")
    )


def resources(cpu: str, memory: str, memory_limit: str) -> Resources:
    return Resources(
        requests=ResourceList(cpu=cpu, memory=memory), limits=ResourceList(memory=memory_limit)
    )


class LocalObjectReference(Model):
    name: DnsLabel = Field(description="Name of an object in the stack's namespace.")


class SecretKeySelector(Model):
    name: DnsName = Field(description="Name of a Secret in the stack's namespace.")
    key: ConfigKey = Field(description="Key within the Secret.")


class UrlSecretRef(Model):
    name: DnsName = Field(description="Name of a Secret in the stack's namespace.")
    key: ConfigKey = Field(
        "url", description="Key within the Secret whose value is the connection URL."
    )


class KeyRef(Model):
    name: DnsName = Field(description="Name of the object in the stack's namespace.")
    key: ConfigKey = Field(description="Key within the object.")
    optional: bool | None = Field(None, description="Start even when the object or key is missing.")


class FieldRef(Model):
    field_path: Annotated[str, StringConstraints(pattern=FIELD_PATH, max_length=400)] = Field(
        description="Pod field to expose: metadata.name, metadata.namespace, metadata.uid,"
        " metadata.labels['<key>'], metadata.annotations['<key>'], spec.nodeName,"
        " spec.serviceAccountName, status.hostIP, status.hostIPs, status.podIP or"
        " status.podIPs."
    )


class EnvVarSource(RuledApiModel):
    secret_key_ref: KeyRef | None = Field(None, description="A key of a Secret.")
    config_map_key_ref: KeyRef | None = Field(None, description="A key of a ConfigMap.")
    field_ref: FieldRef | None = Field(None, description="A field of the pod.")

    __rules__ = (
        Rule(
            cel="(has(self.secretKeyRef) ? 1 : 0) + (has(self.configMapKeyRef) ? 1 : 0)"
            " + (has(self.fieldRef) ? 1 : 0) == 1",
            message="set exactly one of secretKeyRef, configMapKeyRef, fieldRef",
            check=lambda m: (
                sum(x is not None for x in (m.secret_key_ref, m.config_map_key_ref, m.field_ref))
                == 1
            ),
        ),
    )


class EnvVar(RuledApiModel):
    name: Annotated[str, StringConstraints(pattern=ENV_NAME, max_length=253)] = Field(
        description="Variable name. A name of the container contract (e.g. DJANGO_ALLOWED_HOSTS)"
        " replaces the operator's value."
    )
    value: str | None = Field(None, description="Literal value.")
    value_from: EnvVarSource | None = Field(None, description="Take the value from elsewhere.")

    __rules__ = (
        Rule(
            cel="!(has(self.value) && has(self.valueFrom))",
            message="set value or valueFrom, not both",
            check=lambda m: not (m.value is not None and m.value_from is not None),
        ),
    )


class NameRef(Model):
    name: DnsName = Field(description="Name of the object in the stack's namespace.")
    optional: bool | None = Field(None, description="Start even when the object is missing.")


class EnvFromSource(RuledApiModel):
    prefix: Annotated[str, StringConstraints(pattern=ENV_PREFIX, max_length=253)] | None = Field(
        None, description="Prefix added to every variable name."
    )
    config_map_ref: NameRef | None = Field(None, description="Every key of a ConfigMap.")
    secret_ref: NameRef | None = Field(None, description="Every key of a Secret.")

    __rules__ = (
        Rule(
            cel="has(self.configMapRef) != has(self.secretRef)",
            message="set exactly one of configMapRef, secretRef",
            check=lambda m: (m.config_map_ref is None) != (m.secret_ref is None),
        ),
    )


Command = Annotated[list[Annotated[str, StringConstraints(min_length=1)]], Field(min_length=1)]


# ---- labels and placement -----------------------------------------------------------------

# A label value: at most 63 letters, digits, -, _ or ., starting and ending alphanumerically.
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LabelValue = Annotated[str, StringConstraints(pattern=LABEL_VALUE, max_length=63)]
LabelKey = Annotated[str, StringConstraints(pattern=QUALIFIED_NAME, max_length=317)]
LabelMap = dict[Annotated[str, StringConstraints(max_length=317)], LabelValue]
LABEL_KEYS_RULE = (
    f"self.all(k, k.matches(r'{QUALIFIED_NAME}'))",
    "keys must be label names (an optional DNS prefix and /, then at most 63 letters,"
    " digits, -, _ or .)",
    lambda labels: all(re.match(QUALIFIED_NAME, key) for key in labels),
)
MatchLabels = Annotated[LabelMap, Field(max_length=32), *field_rules(LABEL_KEYS_RULE)]
# The labels the operator sets on every pod: its selectors and its record of the release.
OPERATOR_LABELS = (keys.NAME, keys.INSTANCE, keys.COMPONENT, keys.PART_OF, keys.MANAGED_BY,
                   keys.VERSION)  # fmt: skip
_OPERATOR_LABEL_LIST = ", ".join(f"'{key}'" for key in OPERATOR_LABELS)
# Labels a user adds to pods: never one the operator selects on (a pod would leave its
# Deployment) or one of its own.
PodLabels = Annotated[
    LabelMap,
    Field(max_length=32),
    *field_rules(
        LABEL_KEYS_RULE,
        (
            f"self.all(k, !(k in [{_OPERATOR_LABEL_LIST}])"
            f" && !k.startsWith('{RESERVED_ANNOTATION_PREFIX}'))",
            f"keys must not be the operator's own labels ({', '.join(OPERATOR_LABELS)},"
            f" {RESERVED_ANNOTATION_PREFIX}*)",
            lambda labels: all(
                key not in OPERATOR_LABELS and not key.startswith(RESERVED_ANNOTATION_PREFIX)
                for key in labels
            ),
        ),
    ),
]


class LabelSelectorRequirement(RuledApiModel):
    key: LabelKey = Field(description="The label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="In, NotIn, Exists or DoesNotExist."
    )
    values: list[LabelValue] = Field(
        default_factory=list, max_length=64, description="For In and NotIn: the values."
    )

    __rules__ = (
        Rule(
            cel="(self.operator in ['In', 'NotIn']) == (size(self.values) > 0)",
            message="In and NotIn need values; Exists and DoesNotExist take none",
            check=lambda m: (m.operator in ("In", "NotIn")) == bool(m.values),
            field="values",
        ),
    )


class LabelSelector(Model):
    match_labels: MatchLabels = Field(
        default_factory=dict, description="Labels the objects must carry."
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, max_length=16, description="Requirements the labels must meet."
    )


class Toleration(RuledApiModel):
    key: LabelKey | None = Field(None, description="Taint key; unset with Exists: every taint.")
    operator: Literal["Exists", "Equal"] = Field("Equal", description="Exists or Equal.")
    value: LabelValue | None = Field(None, description="Taint value, for Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to tolerate; unset: every effect."
    )
    toleration_seconds: int | None = Field(
        None, ge=0, description="For NoExecute: how long the pod stays once the taint appears."
    )

    __rules__ = (
        Rule(
            cel="self.operator == 'Equal' || !has(self.value)",
            message="Exists takes no value",
            check=lambda m: m.operator == "Equal" or m.value is None,
            field="value",
        ),
        Rule(
            cel="has(self.key) || self.operator == 'Exists'",
            message="a toleration without key needs operator Exists",
            check=lambda m: m.key is not None or m.operator == "Exists",
            field="operator",
        ),
        Rule(
            cel="!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
            message="tolerationSeconds needs effect NoExecute",
            check=lambda m: m.toleration_seconds is None or m.effect == "NoExecute",
            field="tolerationSeconds",
        ),
    )


def _integer_text(values: list[str]) -> bool:
    return len(values) == 1 and re.fullmatch(r"-?[0-9]+", values[0]) is not None


class NodeSelectorRequirement(RuledApiModel):
    key: LabelKey = Field(description="The node label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = Field(
        description="In, NotIn, Exists, DoesNotExist, Gt or Lt."
    )
    values: list[LabelValue] = Field(
        default_factory=list,
        max_length=64,
        description="For In and NotIn: the values; for Gt and Lt: one integer.",
    )

    __rules__ = (
        Rule(
            cel="(self.operator in ['Exists', 'DoesNotExist']) == (size(self.values) == 0)",
            message="In, NotIn, Gt and Lt need values; Exists and DoesNotExist take none",
            check=lambda m: (m.operator in ("Exists", "DoesNotExist")) == (not m.values),
            field="values",
        ),
        Rule(
            cel="!(self.operator in ['Gt', 'Lt'])"
            " || (size(self.values) == 1 && self.values[0].matches('^-?[0-9]+$'))",
            message="Gt and Lt take exactly one integer value",
            check=lambda m: m.operator not in ("Gt", "Lt") or _integer_text(m.values),
            field="values",
        ),
    )


class NodeSelectorTerm(Model):
    match_expressions: list[NodeSelectorRequirement] = Field(
        default_factory=list, max_length=16, description="Requirements on the node's labels."
    )


class NodeSelector(Model):
    node_selector_terms: list[NodeSelectorTerm] = Field(
        min_length=1, max_length=8, description="Terms, any of which a node must meet."
    )


class PreferredSchedulingTerm(Model):
    weight: int = Field(ge=1, le=100, description="Weight, 1 to 100.")
    preference: NodeSelectorTerm = Field(description="The nodes preferred.")


class NodeAffinity(Model):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = Field(
        None, description="Nodes the pod may run on."
    )
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = Field(
        default_factory=list, max_length=8, description="Nodes the pod prefers."
    )


class PodAffinityTerm(Model):
    """Pods of the stack's namespace, by label, and the domain to share or avoid with them."""

    label_selector: LabelSelector = Field(description="The pods, by label.")
    topology_key: LabelKey = Field(
        description="Node label that defines a domain, e.g. kubernetes.io/hostname."
    )


class WeightedPodAffinityTerm(Model):
    weight: int = Field(ge=1, le=100, description="Weight, 1 to 100.")
    pod_affinity_term: PodAffinityTerm = Field(description="The term.")


class PodAffinity(Model):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = Field(
        default_factory=list, max_length=8, description="Terms the pod must meet."
    )
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] = Field(
        default_factory=list, max_length=8, description="Terms the pod prefers to meet."
    )


class Affinity(Model):
    node_affinity: NodeAffinity | None = Field(None, description="Which nodes.")
    pod_affinity: PodAffinity | None = Field(None, description="Near which pods.")
    pod_anti_affinity: PodAffinity | None = Field(None, description="Away from which pods.")


class TopologySpreadConstraint(RuledApiModel):
    max_skew: int = Field(ge=1, description="Most the pod count may differ between domains.")
    topology_key: LabelKey = Field(
        description="Node label that defines a domain, e.g. topology.kubernetes.io/zone."
    )
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"] = Field(
        description="DoNotSchedule or ScheduleAnyway."
    )
    label_selector: LabelSelector | None = Field(
        None, description="The pods counted; unset: the pods of this tier (or pool)."
    )
    min_domains: int | None = Field(
        None, ge=1, description="For DoNotSchedule: the fewest domains to spread over."
    )
    match_label_keys: list[LabelKey] = Field(
        default_factory=list,
        max_length=8,
        description="Labels whose value the counted pods share with the incoming pod.",
    )
    node_affinity_policy: Literal["Honor", "Ignore"] | None = Field(
        None, description="Whether the pod's node affinity limits the domains."
    )
    node_taints_policy: Literal["Honor", "Ignore"] | None = Field(
        None, description="Whether tainted nodes count as domains."
    )

    __rules__ = (
        Rule(
            cel="!has(self.minDomains) || self.whenUnsatisfiable == 'DoNotSchedule'",
            message="minDomains needs whenUnsatisfiable DoNotSchedule",
            check=lambda m: m.min_domains is None or m.when_unsatisfiable == "DoNotSchedule",
            field="minDomains",
        ),
    )


PriorityClassName = Annotated[str, StringConstraints(pattern=DNS_NAME, max_length=253)]


class Placement(Model):
    """Where a tier's pods run and who they are; every field is optional.

    Set under `spec.placement` it applies to every pod of the stack; set on a tier it
    overrides those defaults field by field (labels and annotations merge, the tier's winning).
    """

    node_selector: MatchLabels | None = Field(None, description="Node labels the pods need.")
    tolerations: list[Toleration] | None = Field(
        None, max_length=32, description="Taints the pods tolerate."
    )
    affinity: Affinity | None = Field(None, description="Node affinity and pod (anti-)affinity.")
    topology_spread_constraints: list[TopologySpreadConstraint] | None = Field(
        None,
        max_length=8,
        description="How the pods spread over zones or nodes (replaces the operator's own"
        " spread of web and worker pods over nodes).",
    )
    priority_class_name: PriorityClassName | None = Field(
        None, description="PriorityClass of the pods."
    )
    service_account_name: DnsName | None = Field(
        None,
        description="ServiceAccount the pods run as (e.g. for workload identity); its API token"
        " is still not mounted.",
    )
    pod_labels: PodLabels | None = Field(None, description="Extra labels on the pods.")
    pod_annotations: Annotations | None = Field(None, description="Extra annotations on the pods.")

    def over(self, defaults: Placement) -> Placement:
        """This placement on top of `defaults`: a field set here wins, maps merge."""
        merged = {
            name: getattr(self, name)
            if getattr(self, name) is not None
            else getattr(defaults, name)
            for name in type(self).model_fields
        }
        for name in ("pod_labels", "pod_annotations"):
            mine, theirs = getattr(self, name), getattr(defaults, name)
            if mine is not None and theirs is not None:
                merged[name] = {**theirs, **mine}
        return Placement.model_construct(**merged)


def _placement(tier: str) -> Any:
    return Field(
        default_factory=Placement,
        description=f"Placement of {tier}, over spec.placement.",
    )


# ---- web, workers, beat ----------------------------------------------------------------------


def _ordered(first: str, second: str, operator: Literal["<", "<="], words: str) -> Rule:
    """A rule that field `first` stays below (`<`) or at most (`<=`) field `second`."""
    wire_first, wire_second = to_camel(first), to_camel(second)

    def check(model: Any) -> bool:
        low, high = getattr(model, first), getattr(model, second)
        return bool(low < high if operator == "<" else low <= high)

    return Rule(
        cel=f"self.{wire_first} {operator} self.{wire_second}",
        message=f"{wire_first} {words} {wire_second}",
        check=check,
        field=wire_first,
    )


class Autoscaling(RuledApiModel):
    min_replicas: int = Field(2, ge=1, le=1000, description="Fewest web pods.")
    max_replicas: int = Field(10, ge=1, le=1000, description="Most web pods.")
    target_cpu_utilization: int = Field(
        75, ge=1, le=100, description="Average CPU utilisation (percent of requests) to aim for."
    )

    __rules__ = (_ordered("min_replicas", "max_replicas", "<=", "must be <="),)


class DisruptionBudget(Model):
    enabled: bool = Field(
        True,
        description="Create a PodDisruptionBudget for the web tier. It is only created while"
        " the web tier has at least 2 replicas, so that it never blocks node drains.",
    )
    min_available: int = Field(1, ge=0, description="Web pods that must stay up during drains.")


class WebSpec(RuledApiModel):
    replicas: int = Field(
        2, ge=0, le=1000, description="Number of gunicorn pods (ignored while autoscaling is set)."
    )
    command: Command | None = Field(
        None,
        description="Container command. Default: gunicorn --bind=0.0.0.0:<port>"
        " --bind=0.0.0.0:<metricsPort> <project>.wsgi:application (gunicorn also reads"
        " gunicorn.conf.py in the working directory).",
    )
    port: int = Field(8000, ge=1024, le=65535, description="Port gunicorn listens on.")
    metrics_port: int = Field(
        9100,
        ge=1024,
        le=65535,
        description="Second port gunicorn listens on, for Prometheus only: /metrics is served"
        " there and nowhere else (no Service or Ingress routes to it).",
    )
    min_ready_seconds: int = Field(
        5,
        ge=0,
        le=600,
        description="Seconds a new web pod must stay ready before it counts as available (and"
        " an old one may go, and the stack may say Ready): the time Ingress controllers take to"
        " start routing to it.",
    )
    resources: Resources = Field(
        default_factory=lambda: resources("100m", "256Mi", "512Mi"),
        description="Resources of each web container.",
    )
    autoscaling: Autoscaling | None = Field(
        None,
        description="Scale on CPU with a HorizontalPodAutoscaler; replicas is then left to it.",
    )
    pdb: DisruptionBudget = Field(
        default_factory=DisruptionBudget, description="PodDisruptionBudget of the web tier."
    )
    placement: Placement = _placement("the web pods")

    __rules__ = (
        Rule(
            cel="self.metricsPort != self.port",
            message="metricsPort must differ from port",
            check=lambda m: m.metrics_port != m.port,
            field="metricsPort",
        ),
        Rule(
            cel="!has(self.autoscaling) || has(self.resources.requests.cpu)",
            message="autoscaling needs resources.requests.cpu (utilisation is relative to it)",
            check=lambda m: m.autoscaling is None or m.resources.requests.cpu is not None,
            field="autoscaling",
        ),
    )


class WorkerDisruptionBudget(Model):
    enabled: bool = Field(
        False,
        description="Create a PodDisruptionBudget for the pool. It is only created while the"
        " pool has at least 2 replicas, so that it never blocks node drains.",
    )
    max_unavailable: int = Field(
        1, ge=1, le=1000, description="Worker pods a drain may take down at once."
    )


class WorkerLiveness(RuledApiModel):
    """`celery inspect ping` of the pod's own worker: its main process answers control
    messages even while every pool process is busy, so only a hung worker fails."""

    enabled: bool = Field(
        True,
        description="Restart a worker that stops answering a Celery ping (it goes through the"
        " broker: a broker outage longer than periodSeconds x failureThreshold restarts the"
        " workers too).",
    )
    period_seconds: int = Field(60, ge=10, le=3600, description="Seconds between pings.")
    timeout_seconds: int = Field(20, ge=5, le=300, description="Seconds a ping may take.")
    failure_threshold: int = Field(
        3, ge=1, le=20, description="Failed pings in a row before the container restarts."
    )

    __rules__ = (_ordered("timeout_seconds", "period_seconds", "<", "must be less than"),)


class WorkerPool(Model):
    name: Annotated[str, StringConstraints(pattern=DNS_LABEL, max_length=MAX_POOL_NAME)] = Field(
        description=f"Pool name (a DNS label of at most {MAX_POOL_NAME} characters); the"
        " Deployment is <stack>-worker-<name>."
    )
    queues: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]+$", max_length=200)]],
        Field(min_length=1, max_length=50),
    ] = Field(default_factory=lambda: ["celery"], description="Celery queues this pool consumes.")
    concurrency: int = Field(2, ge=1, le=256, description="Celery worker processes per pod.")
    replicas: int = Field(1, ge=0, le=1000, description="Number of worker pods.")
    command: Command | None = Field(
        None,
        description="Container command. Default: celery -A <project> worker"
        " --queues=<queues> --concurrency=<concurrency>.",
    )
    resources: Resources = Field(
        default_factory=lambda: resources("100m", "256Mi", "512Mi"),
        description="Resources of each worker container.",
    )
    pdb: WorkerDisruptionBudget = Field(
        default_factory=WorkerDisruptionBudget,
        description="PodDisruptionBudget of the pool.",
    )
    liveness: WorkerLiveness = Field(
        default_factory=WorkerLiveness, description="Liveness probe of the workers."
    )
    placement: Placement = _placement("the pool's pods")


class BeatSpec(Model):
    enabled: bool = Field(
        True, description="Run celery beat (one pod; never two, not even during a release)."
    )
    command: Command | None = Field(
        None, description="Container command. Default: celery -A <project> beat."
    )
    resources: Resources = Field(
        default_factory=lambda: resources("50m", "128Mi", "256Mi"),
        description="Resources of the beat container.",
    )
    placement: Placement = _placement("the beat pod")


# ---- data services -------------------------------------------------------------------------


# Rules shared by the database and Redis models.
MANAGED_OR_EXTERNAL = Rule(
    cel="has(self.managed) != has(self.external)",
    message="set exactly one of managed, external",
    check=lambda m: (m.managed is None) != (m.external is None),
)
# Managed -> external is a move to a database elsewhere; back again would attach the volume
# a Retain policy kept from the first managed one, whatever storage, databaseName or username
# the new managed block says (its immutability rules see no old managed block to compare).
NO_RETURN_TO_MANAGED = Rule(
    cel="has(self.managed) ? has(oldSelf.managed) : true",
    message="cannot switch from external to managed (the volume of an earlier managed"
    " service may still exist); create a new stack instead",
    field="managed",
    transition=True,
)
STORAGE_CLASS_IMMUTABLE = Rule(
    cel="has(self.storageClassName) == has(oldSelf.storageClassName) &&"
    " (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",
    message="storageClassName is immutable (changing it would orphan the data)",
    field="storageClassName",
    transition=True,
)


class ManagedDatabase(RuledApiModel):
    image: ImageRef = Field(DEFAULT_POSTGRES_IMAGE, description="PostgreSQL image.")
    storage: Storage = Field("10Gi", description="Size of the data volume. Immutable.")
    storage_class_name: DnsName | None = Field(
        None, description="StorageClass of the data volume (cluster default if unset). Immutable."
    )
    database_name: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = Field(
        "app", description="Database created for the app. Immutable."
    )
    username: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = Field(
        "app", description="Role the app connects as. Immutable."
    )
    resources: Resources = Field(
        default_factory=lambda: resources("100m", "256Mi", "1Gi"),
        description="Resources of the PostgreSQL container.",
    )
    placement: Placement = _placement("the PostgreSQL pod")

    __rules__ = (
        Rule(
            cel="self.storage == oldSelf.storage",
            message="storage is immutable (a StatefulSet volume claim cannot change)",
            field="storage",
            transition=True,
        ),
        STORAGE_CLASS_IMMUTABLE,
        Rule(
            cel="self.databaseName == oldSelf.databaseName && self.username == oldSelf.username",
            message="databaseName and username are immutable",
            field="databaseName",
            transition=True,
        ),
        # The image's superuser and its own databases are not the app's.
        Rule(
            cel="self.username != 'postgres'",
            message="username 'postgres' is the superuser's; the app has a role of its own",
            check=lambda m: m.username != "postgres",
            field="username",
        ),
        Rule(
            cel="!(self.databaseName in ['postgres', 'template0', 'template1'])",
            message="databaseName must not be one of PostgreSQL's own (postgres, template0,"
            " template1)",
            check=lambda m: m.database_name not in ("postgres", "template0", "template1"),
            field="databaseName",
        ),
    )


class ExternalService(Model):
    url_secret_ref: UrlSecretRef = Field(
        description="Secret key holding the connection URL (postgres://... or redis://...)."
    )


class DatabaseSpec(RuledApiModel):
    managed: ManagedDatabase | None = Field(
        None, description="Run PostgreSQL in the stack's namespace (a StatefulSet)."
    )
    external: ExternalService | None = Field(
        None,
        description="Use an existing database (managed service, CloudNativePG, ...) whose"
        " DATABASE_URL is in a Secret.",
    )
    restore_from: (
        Annotated[str, StringConstraints(pattern=r"^(latest|backup-[0-9A-Za-z.]+\.sql\.gz)$")]
        | None
    ) = Field(
        None,
        description="Restore this backup (a file name from the backup volume, or latest) into"
        " the database once, before web, workers and beat run and before migrations. A new"
        " value restores again.",
    )

    __rules__ = (MANAGED_OR_EXTERNAL, NO_RETURN_TO_MANAGED)


class ManagedRedis(RuledApiModel):
    image: ImageRef = Field(DEFAULT_REDIS_IMAGE, description="Redis image.")
    persistence: bool = Field(
        True, description="Append-only file on a volume; without it Redis data lives in memory."
    )
    storage: Storage = Field("1Gi", description="Size of the data volume. Immutable.")
    storage_class_name: DnsName | None = Field(
        None, description="StorageClass of the data volume (cluster default if unset). Immutable."
    )
    resources: Resources = Field(
        default_factory=lambda: resources("50m", "64Mi", "256Mi"),
        description="Resources of the Redis container.",
    )
    placement: Placement = _placement("the Redis pod")

    __rules__ = (
        Rule(
            cel="self.storage == oldSelf.storage && self.persistence == oldSelf.persistence",
            message="storage and persistence are immutable (a StatefulSet volume claim cannot"
            " change)",
            field="storage",
            transition=True,
        ),
        STORAGE_CLASS_IMMUTABLE,
    )


class RedisSpec(RuledApiModel):
    managed: ManagedRedis | None = Field(
        None, description="Run Redis in the stack's namespace (a StatefulSet)."
    )
    external: ExternalService | None = Field(
        None, description="Use an existing Redis whose REDIS_URL is in a Secret."
    )

    __rules__ = (MANAGED_OR_EXTERNAL, NO_RETURN_TO_MANAGED)


# ---- release, edge, backups ----------------------------------------------------------------


class MigrationsSpec(Model):
    enabled: bool = Field(
        True, description="Run migrations in a Job before every release (image change)."
    )
    command: Command = Field(
        default_factory=lambda: ["python", "manage.py", "migrate", "--noinput"],
        description="Command of the migrations Job.",
    )
    timeout_seconds: int = Field(
        600, ge=30, le=86400, description="A migration running longer than this has failed."
    )
    backup_before: bool = Field(False, description="Take a database backup before each migration.")
    placement: Placement = _placement("the migrations Job's pod")


class IssuerRef(Model):
    name: DnsName = Field(description="Name of the cert-manager issuer.")
    kind: Literal["Issuer", "ClusterIssuer"] = Field(
        "ClusterIssuer", description="Issuer (namespaced) or ClusterIssuer."
    )


class TlsSpec(RuledApiModel):
    issuer_ref: IssuerRef | None = Field(
        None, description="Let cert-manager issue the certificate (annotation on the Ingress)."
    )
    secret_name: DnsName | None = Field(
        None, description="Use an existing kubernetes.io/tls Secret."
    )
    self_signed: bool | None = Field(
        None, description="Have the operator make a self-signed certificate (for trials)."
    )
    disabled: bool | None = Field(
        None, description="Serve plain HTTP (e.g. TLS ends at a load balancer in front)."
    )

    __rules__ = (
        Rule(
            cel="(has(self.issuerRef) ? 1 : 0) + (has(self.secretName) ? 1 : 0)"
            " + (has(self.selfSigned) && self.selfSigned ? 1 : 0)"
            " + (has(self.disabled) && self.disabled ? 1 : 0) == 1",
            message="set exactly one of issuerRef, secretName, selfSigned: true, disabled: true",
            check=lambda m: (
                sum(
                    (
                        m.issuer_ref is not None,
                        m.secret_name is not None,
                        bool(m.self_signed),
                        bool(m.disabled),
                    )
                )
                == 1
            ),
        ),
    )

    @property
    def enabled(self) -> bool:
        return not self.disabled


# What the Ingress API takes for an IPv4 address (a DNS name cannot hold `:`, so no IPv6).
IPV4 = r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(re.match(IPV4, host))
    return True


class IngressSpec(Model):
    host: Annotated[
        str,
        StringConstraints(max_length=253),
        *field_rules(
            (
                f"self.matches(r'{DNS_NAME}')",
                "must be a lowercase DNS name such as shop.example.com",
                lambda host: re.match(DNS_NAME, host) is not None,
            ),
            (
                f"!self.matches(r'{IPV4}')",
                "must be a DNS name, not an IP address (the Ingress API refuses IPs as hosts)",
                lambda host: not _is_ip(host),
            ),
        ),
    ] = Field(description="Public host name of the app, e.g. shop.example.com.")
    class_name: DnsName | None = Field(
        None, description="IngressClass (the cluster default if unset)."
    )
    annotations: Annotations = Field(
        default_factory=dict, description="Extra annotations for the Ingress (controller tuning)."
    )
    tls: TlsSpec = Field(
        default_factory=lambda: TlsSpec(self_signed=True),
        description="Where the certificate comes from. Default: an operator-made self-signed one.",
    )

    @property
    def scheme(self) -> str:
        return "https" if self.tls.enabled else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"


# ---- network policies ---------------------------------------------------------------------


class NetworkPeer(RuledApiModel):
    """Pods, by their namespace's labels and their own (both: pods of those namespaces)."""

    namespace_selector: LabelSelector | None = Field(
        None, description="Namespaces by label (an empty selector: every namespace)."
    )
    pod_selector: LabelSelector | None = Field(
        None,
        description="Pods by label; without namespaceSelector, in the stack's namespace only.",
    )

    __rules__ = (
        Rule(
            cel="has(self.namespaceSelector) || has(self.podSelector)",
            message="set namespaceSelector, podSelector or both",
            check=lambda m: m.namespace_selector is not None or m.pod_selector is not None,
        ),
    )


NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _namespaces(*names: str) -> NetworkPeer:
    requirement = LabelSelectorRequirement(
        key=NAMESPACE_NAME_LABEL, operator="In", values=list(names)
    )
    return NetworkPeer(namespace_selector=LabelSelector(match_expressions=[requirement]))


# Where Ingress controllers and Prometheus usually run (ingress-nginx's and Traefik's charts,
# k3s and RKE2 in kube-system, kube-prometheus-stack in monitoring).
DEFAULT_INGRESS_NAMESPACES = ("ingress-nginx", "traefik", "kube-system")
DEFAULT_METRICS_NAMESPACES = ("monitoring",)


class NetworkPolicySpec(Model):
    enabled: bool = Field(
        True,
        description="Render a NetworkPolicy per component: PostgreSQL and Redis accept only the"
        " stack's own pods, web only ingressFrom (HTTP port) and metricsFrom (metrics port), the"
        " rest nothing.",
    )
    ingress_from: list[NetworkPeer] = Field(
        default_factory=lambda: [_namespaces(*DEFAULT_INGRESS_NAMESPACES)],
        max_length=16,
        description="Who may reach web's HTTP port: the Ingress controller's pods. Default: pods"
        " of the namespaces ingress-nginx, traefik and kube-system.",
    )
    metrics_from: list[NetworkPeer] = Field(
        default_factory=lambda: [_namespaces(*DEFAULT_METRICS_NAMESPACES)],
        max_length=16,
        description="Who may scrape web's /metrics (on web.metricsPort): Prometheus. Default:"
        " pods of the namespace monitoring.",
    )
    app_egress: Literal["StackOnly", "Unrestricted"] = Field(
        "StackOnly",
        description="StackOnly: web, workers, beat and the Jobs reach only the stack's PostgreSQL"
        " and Redis, and DNS. Unrestricted: anything (external APIs, object storage, mail). With"
        " an external database or Redis the app's egress is unrestricted.",
    )


class BackupSpec(RuledApiModel):
    enabled: bool = Field(True, description="Take scheduled pg_dump backups.")
    schedule: CronSchedule = Field(
        "0 3 * * *", description="Cron schedule (cluster time zone unless timeZone is set)."
    )
    time_zone: TimeZone | None = Field(
        None, description="IANA time zone of the schedule, e.g. Europe/Berlin."
    )
    retain: int = Field(7, ge=1, le=1000, description="Newest backups to keep.")
    storage: Storage = Field("10Gi", description="Size of the backup volume. Immutable.")
    storage_class_name: DnsName | None = Field(
        None,
        description="StorageClass of the backup volume (cluster default if unset). Immutable.",
    )
    suspend: bool = Field(False, description="Pause scheduled backups (on-demand ones still run).")
    image: ImageRef | None = Field(
        None,
        description="Image with pg_dump; default: the managed database image, else "
        + DEFAULT_POSTGRES_IMAGE,
    )
    placement: Placement = _placement("the backup and restore Jobs' pods")

    __rules__ = (
        Rule(
            cel="self.storage == oldSelf.storage",
            message="storage is immutable (the backup volume keeps its size; resize the claim"
            " itself where its StorageClass allows)",
            field="storage",
            transition=True,
        ),
        STORAGE_CLASS_IMMUTABLE,
    )


class MonitoringSpec(Model):
    pod_monitor: bool = Field(
        False,
        description="Render a PodMonitor (prometheus-operator's monitoring.coreos.com/v1) that"
        " scrapes /metrics of every web pod on web.metricsPort. Needs that CRD in the cluster"
        " when the operator starts; without it the stack reports MonitoringReady False.",
    )
    interval: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,4}(s|m)$")] = Field(
        "30s", description="Scrape interval, e.g. 30s or 1m."
    )
    labels: MatchLabels = Field(
        default_factory=dict,
        description="Labels on the PodMonitor: what the Prometheus' podMonitorSelector looks"
        " for (kube-prometheus-stack's default: release: <its release name>).",
    )


# ---- the stack -----------------------------------------------------------------------------


class DjangoStackSpec(RuledApiModel):
    """Desired state of one Django stack."""

    image: ImageRef = Field(
        description="The Django app image, pinned to a tag or digest. Changing it is a release:"
        " migrations run first, then web, workers and beat roll."
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="When to pull the app image."
    )
    image_pull_secrets: list[LocalObjectReference] = Field(
        default_factory=list, max_length=20, description="Secrets for pulling the app image."
    )
    settings_module: Annotated[str, StringConstraints(pattern=PYTHON_MODULE)] = Field(
        "config.settings",
        description="DJANGO_SETTINGS_MODULE. Its package (e.g. config) is also the Celery app and"
        " holds wsgi.py.",
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=200,
        description="Extra environment for every tier and Job.",
    )
    env_from: list[EnvFromSource] = Field(
        default_factory=list,
        max_length=50,
        description="ConfigMaps/Secrets exposed as environment to every tier and Job; pods roll"
        " when their content changes.",
    )
    pod_annotations: Annotations = Field(
        default_factory=dict,
        description="Extra annotations on every app pod (web, workers, beat, Jobs), e.g. for a"
        " service mesh or a log shipper.",
    )
    placement: Placement = Field(
        default_factory=Placement,
        description="Placement defaults for every pod of the stack (app tiers, data services,"
        " Jobs); each tier's placement overrides them field by field.",
    )
    secret_key_ref: SecretKeySelector | None = Field(
        None,
        description="DJANGO_SECRET_KEY from your Secret. Unset: the operator generates one once"
        " into <stack>-django and never rotates it.",
    )
    web: WebSpec = Field(default_factory=WebSpec, description="The gunicorn web tier.")
    workers: list[WorkerPool] = Field(
        default_factory=lambda: [WorkerPool(name="default")],
        max_length=20,
        description="Celery worker pools, one Deployment each. Default: one pool on queue celery.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    beat: BeatSpec = Field(default_factory=BeatSpec, description="The celery beat scheduler.")
    database: DatabaseSpec = Field(
        default_factory=lambda: DatabaseSpec(managed=ManagedDatabase()),
        description="PostgreSQL: managed in the namespace, or external.",
    )
    redis: RedisSpec = Field(
        default_factory=lambda: RedisSpec(managed=ManagedRedis()),
        description="Redis (cache, sessions, Celery broker): managed in the namespace, or"
        " external.",
    )
    migrations: MigrationsSpec = Field(
        default_factory=MigrationsSpec, description="Migrations that gate every release."
    )
    ingress: IngressSpec | None = Field(
        None, description="Expose the web tier through an Ingress (HTTPS by default)."
    )
    backup: BackupSpec = Field(
        default_factory=BackupSpec, description="Scheduled pg_dump backups to a volume."
    )
    network_policy: NetworkPolicySpec = Field(
        default_factory=NetworkPolicySpec,
        description="NetworkPolicies derived from the stack's topology (on by default).",
    )
    monitoring: MonitoringSpec = Field(
        default_factory=MonitoringSpec, description="Scraping the app's metrics with Prometheus."
    )
    deletion_policy: Literal["Retain", "Delete"] = Field(
        "Retain",
        description="Retain: database, Redis and backup volumes outlive the stack and are reused"
        " by a stack of the same name. Delete: they go with it.",
    )

    __rules__ = (
        Rule(
            cel="self.workers.all(w, self.workers.exists_one(x, x.name == w.name))",
            message="worker pool names must be unique",
            check=lambda m: len({w.name for w in m.workers}) == len(m.workers),
            field="workers",
        ),
        Rule(
            cel="!has(self.database.restoreFrom) || self.backup.enabled",
            message="restoreFrom reads the backup volume: it needs backup.enabled",
            check=lambda m: m.database.restore_from is None or m.backup.enabled,
            field="database.restoreFrom",
        ),
    )

    def placement_of(self, tier: Placement) -> Placement:
        """A tier's placement over the stack-wide defaults."""
        return tier.over(self.placement)

    @property
    def release_hash(self) -> str:
        """Identifies a release: the image plus the migration command (10 hex digits)."""
        material = json.dumps([self.image, list(self.migrations.command)])
        return hashlib.sha256(material.encode()).hexdigest()[:10]

    @property
    def project_package(self) -> str:
        """The Django project package, e.g. `config` for `config.settings`."""
        return self.settings_module.rpartition(".")[0] or self.settings_module


STACK_NAME_RULE = (
    f"a DNS label of at most {MAX_STACK_NAME} characters that starts with a letter and does"
    f" not hold or end in {RESERVED_INFIX} (names of the stack's objects are derived from it)"
)


def stack_name_ok(name: str) -> bool:
    return f"{RESERVED_INFIX}-" not in name and not name.endswith(RESERVED_INFIX)


def _no_reserved_infix(name: str) -> str:
    if not stack_name_ok(name):
        raise RuleError("", f"must be {STACK_NAME_RULE}")
    return name


class ObjectMeta(Model):
    """The part of metadata the operator reads. Unknown metadata fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    name: Annotated[
        str,
        StringConstraints(pattern=STACK_NAME, max_length=MAX_STACK_NAME),
        AfterValidator(_no_reserved_infix),
    ] = Field(description=STACK_NAME_RULE)
    namespace: DnsLabel = Field("default", description="Namespace of the stack.")
    uid: str | None = Field(None, description="Assigned by the API server.")
    generation: int | None = Field(None, description="Assigned by the API server.")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


def _short_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:8]


BACKUP_NOW_ANNOTATION = "djangostack.io/backup-now"


class StackNames:
    """Every name derived from the stack name, in one place."""

    def __init__(self, stack: str) -> None:
        self.stack = stack
        self.web = f"{stack}-web"
        self.beat = f"{stack}-beat"
        self.postgres = f"{stack}-postgres"
        self.postgres_headless = f"{stack}-postgres-headless"
        self.postgres_secret = f"{stack}-postgres"
        self.postgres_superuser_secret = f"{stack}-postgres-superuser"
        self.postgres_init = f"{stack}-postgres-init"
        self.redis = f"{stack}-redis"
        self.redis_headless = f"{stack}-redis-headless"
        self.redis_secret = f"{stack}-redis"
        self.django_secret = f"{stack}-django"
        self.tls_secret = f"{stack}-tls"
        self.backup = f"{stack}-backup"
        self.backup_pvc = f"{stack}-backups"
        self.scripts = f"{stack}-scripts"

    def pre_migration_backup_job(self, release_hash: str) -> str:
        return f"{self.stack}-backup-pre-{release_hash}"

    def on_demand_backup_job(self, request: str) -> str:
        return f"{self.stack}-backup-now-{_short_hash(request)}"

    def restore_job(self, source: str) -> str:
        return f"{self.stack}-restore-{_short_hash(source)}"

    def worker(self, pool: str) -> str:
        return f"{self.stack}-worker-{pool}"

    def migrations_job(self, release_hash: str) -> str:
        return f"{self.stack}-migrate-{release_hash}"

    def manage_job(self, request: str) -> str:
        return f"{self.stack}-manage-{_short_hash(request)}"


class DjangoStack(Model):
    """A DjangoStack resource as the operator and the renderer see it."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["djangostack.io/v1alpha1"] = "djangostack.io/v1alpha1"
    kind: Literal["DjangoStack"] = "DjangoStack"
    metadata: ObjectMeta
    spec: DjangoStackSpec

    @cached_property
    def names(self) -> StackNames:
        return StackNames(self.metadata.name)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def backup_request(self) -> str | None:
        """The value of the backup-now annotation: each new value asks for one backup."""
        return self.metadata.annotations.get(BACKUP_NOW_ANNOTATION) or None

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> DjangoStack:
        return cls.model_validate(obj)
