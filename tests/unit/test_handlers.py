"""handlers.py: kopf sees only level-based event handlers."""

from __future__ import annotations

import kopf

from djangostack_operator import handlers
from djangostack_operator.kinds import CHILD_KINDS, CONFIG_KINDS


def test_kopf_has_no_changing_handlers_so_it_writes_nothing_onto_stacks() -> None:
    """Create/update/resume handlers make kopf store progress and diff-base annotations on
    the user's object (and timers add a finalizer); event handlers make it store nothing."""
    registry = kopf.get_default_registry()
    assert handlers.stack_event is not None
    assert not registry._changing.get_all_handlers()
    assert not registry._spawning.get_all_handlers()
    assert not registry._indexing.get_all_handlers()
    watched = {h.id for h in registry._watching.get_all_handlers()}
    expected = {"stack_event"} | {f"child_{c.plural}" for c in CHILD_KINDS}
    assert expected | {f"config_{c.plural}" for c in CONFIG_KINDS} <= watched


def test_no_secret_is_listed_or_watched() -> None:
    """A watch of Secrets would hold every value of the namespaces in memory: the operator
    reads the Secrets its stacks name one by one (secretlookup.py)."""
    registry = kopf.get_default_registry()
    watched = {h.selector.any_name for h in registry._watching.get_all_handlers()}
    assert "configmaps" in watched
    assert "secrets" not in watched
    assert "secrets" not in {c.plural for c in (*CHILD_KINDS, *CONFIG_KINDS)}
