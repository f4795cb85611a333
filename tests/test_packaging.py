"""The Dockerfile installs the way `make run` does, and runs as an unprivileged user."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib

from server import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def test_docker_installs_with_the_same_pinned_command_as_make_run():
    make_install = re.search(r"pip install --quiet (-c constraints.txt -e \.)\n", MAKEFILE)
    assert make_install, "make run installs with the constraints file"
    assert f"pip install --quiet {make_install.group(1)}" in DOCKERFILE


def test_docker_image_shape():
    assert re.search(r"^FROM python:3\.1[1-9]-slim", DOCKERFILE, re.M)
    assert re.search(r"^USER vigil$", DOCKERFILE, re.M)
    assert 'VOLUME ["/app/var"]' in DOCKERFILE
    assert "HEALTHCHECK" in DOCKERFILE and "/healthz" in DOCKERFILE
    assert "--host 0.0.0.0" in DOCKERFILE
    for command in ("python -m server init", "python -m server serve"):
        assert command in DOCKERFILE


def test_every_file_the_image_needs_is_copied():
    copied = set(re.findall(r"^COPY (\S+)", DOCKERFILE, re.M))
    for needed in ("server", "web", "service-worker", "data"):
        assert needed in copied, needed


def test_ci_and_make_test_run_the_whole_suite(tmp_path):
    """CI's last step is the README's `make test`, and that runs pytest over every test:
    read from what make would execute, not from the Makefile's text."""
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert ci[-1] == "make test"
    assert "make test" in (ROOT / "README.md").read_text()
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    vnu = tmp_path / "vnu.jar"
    for made in (venv / "bin" / "python", venv / ".installed-dev", vnu):
        made.touch()  # newer than pyproject.toml: nothing to install
    run = subprocess.run(["make", "-n", "--no-print-directory", "test", f"VENV={venv}",
                          "CHROMIUM=/bin/sh", "PG_CTL=/bin/sh",
                          f"VNU_JAR={vnu}"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    assert run.stdout.splitlines() == [
        f"VIGIL_CHROMIUM=/bin/sh VIGIL_VNU_JAR={vnu} {venv}/bin/python -m pytest",
        f"VIGIL_CHROMIUM=/bin/sh VIGIL_VNU_JAR={vnu} VIGIL_TEST_DB=postgresql "
        f"{venv}/bin/python -m pytest"]
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    assert config["ini_options"]["testpaths"] == ["tests"]


def test_pyproject_declares_every_package_server_imports():
    """Each third-party module imported under server/ comes from a declared distribution, and
    every distribution declared under "Imported by server/" is imported."""
    imported = set()
    for path in (ROOT / "server").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported - set(sys.stdlib_module_names) if m != "server"}
    dists = importlib.metadata.packages_distributions()
    needed = {dists[module][0].lower().replace("_", "-") for module in third_party}
    text = (ROOT / "pyproject.toml").read_text()
    block = text.split("# Imported by server/.")[1].split("#")[0]
    declared = {re.split(r"[<>=;\[ ]", line.strip().strip('",'))[0].lower()
                for line in block.splitlines() if line.strip().startswith('"')}
    assert needed == declared
