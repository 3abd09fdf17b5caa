"""Settings come only from the contract's environment, with production defaults."""

from __future__ import annotations

import subprocess

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env
from djangostack_devcluster.processes import free_port
from tests.app.processes import APP_DIR, AppProcesses


def test_require_lists_every_missing_variable() -> None:
    with pytest.raises(ImproperlyConfigured) as error:
        env.require({"DJANGO_SECRET_KEY": "x", "REDIS_URL": "  "})
    message = str(error.value)
    for name in ("DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        assert name in message
    assert "DJANGO_SECRET_KEY" not in message


def test_require_returns_stripped_values() -> None:
    values = {name: f" {name.lower()} " for name in env.REQUIRED}
    assert env.require(values) == {name: name.lower() for name in env.REQUIRED}


def test_csv_drops_blanks() -> None:
    assert env.csv(" a.example.com, ,b ,") == ["a.example.com", "b"]
    assert env.csv("") == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("1", True), ("YES", True), ("on", True), ("false", False), ("0", False)],
)
def test_flag_reads_booleans(raw: str, expected: bool) -> None:
    assert env.flag({"X": raw}, "X", default=not expected) is expected


def test_flag_default_and_error() -> None:
    assert env.flag({}, "X", default=True) is True
    with pytest.raises(ImproperlyConfigured, match=r"X='maybe': expected true or false"):
        env.flag({"X": "maybe"}, "X", default=False)


def test_integer_default_bounds_and_errors() -> None:
    assert env.integer({}, "N", 5) == 5
    assert env.integer({"N": ""}, "N", 5) == 5
    assert env.integer({"N": "7"}, "N", 5) == 7
    with pytest.raises(ImproperlyConfigured, match=r"N='seven': expected an integer"):
        env.integer({"N": "seven"}, "N", 5)
    with pytest.raises(ImproperlyConfigured, match=r"N='0': expected an integer >= 1"):
        env.integer({"N": "0"}, "N", 5, minimum=1)


def test_manage_py_names_a_missing_variable(app: AppProcesses) -> None:
    result = app.manage("check", env={"DATABASE_URL": ""}, check=False)
    assert result.returncode != 0
    assert "missing environment variable(s): DATABASE_URL" in result.stderr


def test_gunicorn_refuses_to_start_without_the_secret_key(app: AppProcesses) -> None:
    result = subprocess.run(
        ["gunicorn", f"--bind=127.0.0.1:{free_port()}", "config.wsgi:application"],
        cwd=APP_DIR,
        env={**app.env, "DJANGO_SECRET_KEY": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "missing environment variable(s): DJANGO_SECRET_KEY" in result.stderr


def test_deploy_checks_pass_with_the_operators_generated_secret_key(app: AppProcesses) -> None:
    """The contract env (with a key made like the operator makes it) passes --deploy."""
    result = app.manage("check", "--deploy", "--fail-level=WARNING", check=False)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_deploy_checks_catch_debug(app: AppProcesses) -> None:
    result = app.manage(
        "check", "--deploy", "--fail-level=WARNING", env={"DJANGO_DEBUG": "true"}, check=False
    )
    assert result.returncode != 0
    assert "security.W018" in result.stderr


def test_models_and_migrations_agree(app: AppProcesses) -> None:
    result = app.manage("makemigrations", "--check", "--dry-run", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
