"""Signing organizers in, in-process."""

from __future__ import annotations

import asyncio
import html
import re

import httpx
from starlette.testclient import TestClient

from server.accounts import add_organizer
from tests import dbtools

PASSWORD = "correct horse battery staple"


def create_organizer(settings, name: str, password: str = PASSWORD) -> None:
    async def run():
        async with dbtools.database(settings.db_path) as db:
            await add_organizer(db, name, password)

    asyncio.run(run())


def csrf_from(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in; return the CSRF token for this session's forms."""
    token = csrf_from(client.get("/admin/login").text)
    res = client.post("/admin/login", data={"csrf": token, "username": name,
                                            "password": password}, follow_redirects=False)
    assert res.status_code == 303, res.text
    return csrf_from(client.get("/admin/").text)


def hidden_fields(page: str, action: str) -> dict:
    """The hidden fields of the form posting to `action`, as the browser would send them (an
    approval form names the version it approves this way)."""
    form = re.search(r'<form[^>]*action="' + re.escape(action) + r'"[^>]*>(.*?)</form>',
                     page, re.S)
    assert form, f"no form for {action}"
    return {html.unescape(n): html.unescape(v) for n, v in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1))}


class Browser:
    """One browser's cookies, over a client shared with other browsers (one app, one
    lifespan)."""

    def __init__(self, client: TestClient):
        self.client = client
        self.app = client.app
        self.cookies = type(client.cookies)()

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        self.client.cookies = self.cookies
        try:
            return self.client.request(method, url, **kwargs)
        finally:
            self.cookies = self.client.cookies

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)


def sql(settings, query: str, params: tuple = ()) -> list[tuple]:
    conn = dbtools.connect(settings.db_path)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


async def async_sign_in(client: httpx.AsyncClient, name: str) -> str:
    stamp = csrf_from((await client.get("/admin/login")).text)
    res = await client.post("/admin/login", data={"csrf": stamp, "username": name,
                                                  "password": PASSWORD})
    assert res.status_code == 303, res.text
    return csrf_from((await client.get("/admin/")).text)
