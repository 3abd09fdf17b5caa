"""The local image cache: an archive per input digest, older ones of the same image removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from djangostack_devcluster import images


def fake_image(key: str, version: str) -> images.LocalImage:
    def build(out: Path, name: str) -> None:
        out.write_text(f"{name} {version}")

    return images.LocalImage(key, f"example/{key}:1", version.encode, build)


def test_a_rebuild_replaces_only_the_archives_of_its_own_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DJANGOSTACK_CACHE", str(tmp_path))
    app_v1, app_next = (
        images.ensure(fake_image("app", "1")),
        images.ensure(fake_image("app-next", "1")),
    )
    app_v2 = images.ensure(fake_image("app", "2"))
    assert app_v2.read_text() == "example/app:1 2"
    assert not app_v1.exists()
    # "app-next-<digest>.tar" also matches "app-*.tar"; it is another image's and stays.
    assert app_next.exists()
    assert images.ensure(fake_image("app-next", "1")) == app_next
