"""IndexedRouter answers exactly as Starlette's Router would, only sooner."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Match, Route
from starlette.testclient import TestClient

from server.app import create_app
from server.routing import IndexedRouter, fixed_paths
from tests.conftest import make_settings


def answer(text: str):
    async def endpoint(request) -> PlainTextResponse:
        return PlainTextResponse(text)

    return endpoint


def starlette_choice(routes, path: str, method: str):
    """The route Starlette's own loop hands the request to (full match first)."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method}
    for route in routes:
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None


def test_every_indexed_path_goes_where_starlette_would_send_it(tmp_path):
    app = create_app(make_settings(tmp_path))
    router = app.router
    assert isinstance(router, IndexedRouter)
    assert {"/", "/api/v1/listings", "/legal", "/healthz"} <= set(router.fixed)
    for path, route in router.fixed.items():
        for method in sorted(route.methods):
            assert starlette_choice(router.routes, path, method) is route, (path, method)


def test_a_path_caught_by_an_earlier_pattern_is_not_indexed():
    routes = [
        Route("/things/{name}", answer("pattern")),
        Route("/things/new", answer("fixed")),
        Route("/other", answer("other")),
    ]
    index = fixed_paths(routes)
    assert "/things/new" not in index
    assert index["/other"] is routes[2]
    app = Starlette()
    app.router = IndexedRouter(routes)
    with TestClient(app) as client:
        assert client.get("/things/new").text == "pattern"
        assert client.get("/other").text == "other"


def test_one_path_with_a_route_per_method_still_answers_each_method():
    routes = [
        Route("/form", answer("show"), methods=["GET"]),
        Route("/form", answer("save"), methods=["POST"]),
        Route("/only-get", answer("got"), methods=["GET"]),
    ]
    assert "/form" not in fixed_paths(routes)
    app = Starlette()
    app.router = IndexedRouter(routes)
    with TestClient(app) as client:
        assert client.get("/form").text == "show"
        assert client.post("/form").text == "save"
        assert client.head("/only-get").status_code == 200
        refused = client.post("/only-get")
        assert refused.status_code == 405
        assert refused.headers["allow"]
        assert client.get("/only-get/").status_code == 200  # redirect_slashes, as before
        assert client.get("/missing").status_code == 404

