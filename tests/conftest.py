"""Shared fixtures: settings in tmp_path, an app with the default data, an in-process client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server import ROOT
from server.app import create_app
from server.config import Settings
from tests import dbtools

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def pytest_report_header() -> str:
    """Name the browser the browser tests drive, so a failure says which Chromium it was."""
    import subprocess

    from tests.live import CHROMIUM

    try:
        found = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True,
                               timeout=30).stdout.strip()
    except OSError:
        found = "not found"
    return f"browser: {CHROMIUM}: {found or 'no version'}; database: {dbtools.BACKEND}"


def pytest_sessionstart(session: pytest.Session) -> None:
    if dbtools.POSTGRESQL:
        dbtools.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if dbtools.POSTGRESQL:
        dbtools.stop()


@pytest.fixture(autouse=True)
def _drop_test_databases(tmp_path: Path) -> Iterator[None]:
    """On PostgreSQL, a test's databases go with its tmp_path."""
    yield
    if dbtools.POSTGRESQL:
        dbtools.drop_under(tmp_path)


def make_settings(tmp_path: Path, **overrides) -> Settings:
    db_path = overrides.pop("db_path", tmp_path / "vigil.db")
    target = dbtools.target(db_path)
    values = dict(
        db_path=db_path,
        db_url=target if isinstance(target, str) else "",
        secret_key=TEST_SECRET,
        vapid_key_path=tmp_path / "vapid.pem",
        vapid_subject="mailto:test@example.invalid",
        base_url="http://testserver",
        data_dir=ROOT / "data",
        suggest_min_seconds=0.0,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver") as c:
        yield c


# Module scope: sync Playwright keeps an event loop running while it is open, which
# async tests in other modules must not see.
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.live import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context()
    yield ctx
    ctx.close()


@pytest.fixture
def pair(tmp_path: Path):
    """An app with two organizers, ana and ben, and one browser for each."""
    from tests.admin_support import Browser, create_organizer

    settings = make_settings(tmp_path)
    create_organizer(settings, "ana")
    create_organizer(settings, "ben")
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        yield settings, Browser(client), Browser(client)
