"""What a test does when a piece of infrastructure (binary, server) is missing."""

from __future__ import annotations

import os

import pytest


def missing_infrastructure(reason: str) -> None:
    """Under CI a missing piece is a failure; on a developer machine it is a skip."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"missing infrastructure (CI): {reason}", pytrace=False)
    pytest.skip(f"missing infrastructure: {reason} (run `make bootstrap`)")
