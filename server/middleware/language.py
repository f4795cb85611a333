"""The language prefix: /es/... is served by the English routes, marked with its language."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from server.i18n import DEFAULT, UNPREFIXED, split_lang


def language_of(scope: Scope) -> Scope:
    """/es/... (and /pt/..., /zh-Hans/...) is served by the English routes, marked with its
    language.

    The URL alone decides the language: no cookie, no Accept-Language guessing. The scope
    is rewritten in place, as a Mount rewrites it, so the layers outside see what the view
    left in it.
    """
    lang, rest = split_lang(scope["path"])
    if lang != DEFAULT and (rest.startswith(UNPREFIXED) or split_lang(rest)[0] != DEFAULT):
        lang = DEFAULT  # /es/admin, /es/pt/...: no such page
    elif lang != DEFAULT:
        scope["path"], scope["raw_path"] = rest, rest.encode()
    scope.setdefault("state", {})
    scope["state"]["lang"] = lang
    return scope


class LanguagePrefixMiddleware:
    """Strips a language prefix from the path and names the language in scope["state"]
    (language_of)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            language_of(scope)
        await self.app(scope, receive, send)
