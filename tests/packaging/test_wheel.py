"""The operator's wheel on its own: what the operator image installs (`pip install .`)."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from tests.factories import REPO


def test_the_wheel_without_extras_imports_and_starts_the_operator_and_its_kubectl_plugin(
    tmp_path: Path,
) -> None:
    """A runtime import declared only in a dev extra would fail here."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
         str(wheels), str(REPO)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("djangostack_operator-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packages = {name.split("/", 1)[0] for name in archive.namelist()}
    # The local cluster tooling is the developers' own, never part of what users install.
    assert "djangostack_devcluster" not in packages
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    imported = subprocess.run(
        [str(python), "-c", "import djangostack_operator.handlers, djangostack_operator.secretgen"],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    # The operator's command and kubectl's plugin (an executable named kubectl-djangostack).
    for command in ("djangostack", "kubectl-djangostack"):
        version = subprocess.run(
            [str(env / "bin" / command), "--version"], check=False, capture_output=True, text=True
        )
        assert version.returncode == 0, version.stderr
        assert version.stdout.startswith(f"{command} ")
