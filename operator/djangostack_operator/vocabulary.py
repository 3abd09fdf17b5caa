"""The operator's words, defined once: the label keys every child carries (render/meta.py
sets them, the watches and caches read them) and the names it writes under."""

from __future__ import annotations

NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
# The tag of the app image an object belongs to (never part of a selector: it changes).
VERSION = "app.kubernetes.io/version"

# The value of MANAGED_BY on every child, and the operator's name in Events.
OPERATOR = "djangostack-operator"
# The value of MANAGED_BY on the Jobs `kubectl djangostack` starts (not the operator's).
PLUGIN = "kubectl-djangostack"
# Server-side selector of everything the operator manages.
MANAGED_SELECTOR = f"{MANAGED_BY}={OPERATOR}"

# On a Secret the operator generated: what its values were made for (a certificate's host).
MADE_FOR = "djangostack.io/made-for"

# Server-side apply field managers: every child field, and the hand-over of spec.replicas.
FIELD_MANAGER = "djangostack-operator"
HANDOVER_MANAGER = "djangostack-operator-handover"

# Timestamps as the API writes them (RFC 3339, UTC, whole seconds): status conditions,
# Events, and the expiry of certificates the operator compares with them.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
