"""The Dockerfile installs the way `make run` does, and runs as an unprivileged user."""

from __future__ import annotations

import re

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


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make run" in readme
