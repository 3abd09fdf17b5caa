"""The Dockerfile, checked statically: no container engine runs here to build it.

What can be executed is executed (the requirements one-liner, the collectstatic command in
other tests); the rest is read: stages, users, pins, and agreement with what the operator
renders and what `make test` installs.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib

import pytest

from djangostack_devcluster.localapp import COLLECTSTATIC
from djangostack_operator.render import render
from tests.dockerfile import ARGS, STAGES, lineage
from tests.factories import REPO, make_stack


def test_targets_app_and_operator_exist() -> None:
    assert {"app", "operator"} <= set(STAGES)


def test_base_image_is_pinned_to_the_tested_python() -> None:
    image = ARGS["PYTHON_IMAGE"]
    match = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim-bookworm", image)
    assert match, f"{image}: pin an exact patch release"
    assert (int(match.group(1)), int(match.group(2))) == sys.version_info[:2]
    for name in STAGES:
        assert lineage(name)[-1].base == "${PYTHON_IMAGE}"


@pytest.mark.parametrize("target", ["app", "operator"])
def test_targets_run_as_a_numeric_non_root_user(target: str) -> None:
    users = STAGES[target].values("USER")
    assert users, f"{target} sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 10000, users[-1]
    assert gid.isdigit() and int(gid) != 0, users[-1]


def test_no_secret_is_baked_in_and_kubernetes_does_the_health_checks() -> None:
    for stage in STAGES.values():
        for keyword, value in stage.instructions:
            assert keyword != "HEALTHCHECK"
            if keyword in ("ENV", "ARG"):
                assert not re.search(r"SECRET|PASSWORD|TOKEN", value, re.IGNORECASE), value
    build_env = (REPO / "app" / "build.env").read_text()
    assert "placeholder" in build_env  # the only key it has is not one


def test_app_requirements_are_the_pyproject_app_extra() -> None:
    """Run the Dockerfile's own one-liner here and compare with pyproject.toml."""
    run = next(v for v in STAGES["app-build"].values("RUN") if "tomllib" in v)
    command = run.split(" > ", 1)[0]
    argv = shlex.split(command)
    assert argv[0] == "python"
    printed = subprocess.run(
        [sys.executable, *argv[1:]], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert printed == extras["optional-dependencies"]["app"]
    # `make test` installs the same extra (plus dev tools) into its virtualenv.
    assert "'.[dev,app]'" in (REPO / "scripts" / "bootstrap.sh").read_text()


def test_app_image_matches_what_the_operator_renders() -> None:
    app = STAGES["app"]
    assert app.values("WORKDIR") == ["/app"]
    assert "app/ ./" in app.values("COPY")
    web = next(
        o
        for o in render(make_stack())
        if (o["kind"], o["metadata"]["name"]) == ("Deployment", "shop-web")
    )
    container = web["spec"]["template"]["spec"]["containers"][0]
    rendered = [
        "gunicorn",
        *(f"--bind=0.0.0.0:{port['containerPort']}" for port in container["ports"]),
    ]
    assert [json.loads(cmd) for cmd in app.values("CMD")] == [container["command"]]
    assert container["command"][:3] == rendered
    assert any("DJANGO_SETTINGS_MODULE=config.settings" in v for v in app.values("ENV"))


def test_app_image_collects_static_files_like_the_local_run() -> None:
    runs = STAGES["app"].values("RUN")
    assert any(". ./build.env" in run and " ".join(COLLECTSTATIC) in run for run in runs)


def test_operator_image_runs_the_cli_the_chart_calls() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert STAGES["operator"].values("ENTRYPOINT") == ['["djangostack"]']
    assert "djangostack" in scripts
    deployment = REPO / "charts" / "djangostack-operator" / "templates" / "deployment.yaml"
    assert re.search(r"args:\s*\n\s*- run\b", deployment.read_text())
    assert "pip install ." in STAGES["operator-build"].values("RUN")


def test_build_context_leaves_out_local_state() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", ".cluster", ".app", ".git", "app/staticfiles"} <= set(ignored)
