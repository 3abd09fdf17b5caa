"""A small Dockerfile reader for the static checks (no container engine runs here)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.factories import REPO

DOCKERFILE = REPO / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, keyword: str) -> list[str]:
        return [value for key, value in self.instructions if key == keyword]


def parse() -> tuple[dict[str, str], dict[str, Stage]]:
    """(global ARGs, stages by name); continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", value, flags=re.IGNORECASE)
            assert match, f"every stage is named: FROM {value}"
            current = Stage(match.group(1), match.group(2))
            stages[current.name] = current
        elif current is None:
            assert keyword == "ARG", f"only ARG may precede the first FROM, not {keyword}"
            name, _, default = value.partition("=")
            args[name] = default
        else:
            current.instructions.append((keyword, value))
    return args, stages


ARGS, STAGES = parse()


def lineage(name: str) -> list[Stage]:
    """The stage and the stages it is built FROM, down to the external base image."""
    chain = [STAGES[name]]
    while chain[-1].base in STAGES:
        chain.append(STAGES[chain[-1].base])
    return chain
