"""Secrets read one by one, by name: the operator never lists or watches them.

A list or watch of Secrets returns their values, so an operator that watched them would hold
every Secret of every namespace it manages, and its token could dump them all in one call.
Instead each reconcile names the Secrets its stack uses (references.secret_names) and reads
those with GET. What is kept is what decisions need — keys, a keyed digest of the values,
the generated Secrets' metadata — never a value, and only while a stack still names it.

A Secret read less than `fresh_seconds` ago is not read again, so the reconciles between
two resyncs (child events, status echoes) cost no request; the resync of every stack reads
them all again, so a changed Secret rolls the pods within one resync period. A stack whose
spec changed reads its Secrets again at once, and so does a reconcile after the operator
wrote one of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from djangostack_operator.references import ObjectInfo

ReadSecret = Callable[[str, str], Mapping[str, Any] | None]  # (namespace, name) -> body
Digest = Callable[[Mapping[str, Any]], ObjectInfo]


@dataclass(frozen=True)
class _Entry:
    info: ObjectInfo | None  # None: the Secret does not exist
    read_at: float


class SecretLookup:
    def __init__(
        self,
        read: ReadSecret,
        digest: Digest,
        fresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._digest = digest
        self.fresh_seconds = fresh_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        # Which stack named which Secrets last: an entry no stack names is dropped.
        self._named_by: dict[tuple[str, str], frozenset[str]] = {}
        # The spec generation each stack's Secrets were last read for.
        self._generation: dict[tuple[str, str], object] = {}

    def read(
        self, stack: tuple[str, str], names: Iterable[str], generation: object = None
    ) -> dict[str, ObjectInfo]:
        """The stack's Secrets that exist, by name. The first read for a stack, and one for
        another `generation` than the last (a new spec), reads every one of them again.

        Raises whatever `read` raises (the API server's refusal or silence) for the caller
        to report; what was read before the failure is kept."""
        namespace = stack[0]
        wanted = frozenset(names)
        with self._lock:
            dropped = self._named_by.get(stack, frozenset()) - wanted
            self._named_by[stack] = wanted
            fresh = stack not in self._generation or self._generation[stack] != generation
            self._generation[stack] = generation
        self._forget_unnamed(namespace, dropped)
        found: dict[str, ObjectInfo] = {}
        for name in sorted(wanted):
            key = (namespace, name)
            with self._lock:
                entry = self._entries.get(key)
            if fresh or entry is None or self.clock() - entry.read_at >= self.fresh_seconds:
                body = self._read(namespace, name)
                entry = _Entry(None if body is None else self._digest(body), self.clock())
                with self._lock:
                    self._entries[key] = entry
            if entry.info is not None:
                found[name] = entry.info
        return found

    def forget(self, namespace: str, name: str) -> None:
        """The operator just wrote this Secret: the next reconcile reads it again."""
        with self._lock:
            self._entries.pop((namespace, name), None)

    def drop_stack(self, stack: tuple[str, str]) -> None:
        """The stack is gone: what only it named is dropped."""
        with self._lock:
            names = self._named_by.pop(stack, frozenset())
            self._generation.pop(stack, None)
        self._forget_unnamed(stack[0], names)

    def held(self) -> list[tuple[str, str]]:
        """(namespace, name) of every Secret something is kept of."""
        with self._lock:
            return sorted(self._entries)

    def _forget_unnamed(self, namespace: str, names: frozenset[str]) -> None:
        if not names:
            return
        with self._lock:
            still = {
                name
                for (ns, _), named in self._named_by.items()
                if ns == namespace
                for name in named
            }
            for name in names - still:
                self._entries.pop((namespace, name), None)
