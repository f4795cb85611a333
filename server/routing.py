"""A Starlette router that finds fixed paths with one dictionary lookup.

Starlette tries every route's regular expression in turn, so a request for the last of
ninety routes pays for eighty-nine misses. Most of Vigil's traffic asks for fixed paths
(`/`, `/legal`, `/api/v1/listings`), so those are indexed by path; everything else (paths
with parameters, a method a route does not take, a missing slash) goes the usual way, and
the answer is the same either way: a path is indexed only when the route Starlette would
pick for it is the one the index holds.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send


class IndexedRouter(Router):
    def __init__(self, routes: list[BaseRoute], **kwargs) -> None:
        super().__init__(routes, **kwargs)
        self.fixed = fixed_paths(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            route = self.fixed.get(scope["path"])
            if route is not None and scope["method"] in route.methods:
                scope.setdefault("router", self)
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {}
                await route.handle(scope, receive, send)
                return
        await super().app(scope, receive, send)


def fixed_paths(routes: list[BaseRoute]) -> dict[str, Route]:
    """Each parameterless path mapped to its route, when no earlier route also matches it
    (for any method) and no later route shares it (a GET and a POST route on one path)."""
    index: dict[str, Route] = {}
    shared: set[str] = set()
    for position, route in enumerate(routes):
        if not isinstance(route, Route) or route.param_convertors or not route.methods:
            continue
        path = route.path
        if path in index or path in shared:
            shared.add(path)
            index.pop(path, None)
            continue
        probe = {"type": "http", "path": path, "root_path": "", "method": "GET"}
        if any(earlier.matches(probe)[0] is not Match.NONE for earlier in routes[:position]):
            shared.add(path)
            continue
        index[path] = route
    return index
