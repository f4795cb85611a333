"""The one Jinja environment, the Renderer that fills it per language, and static assets with
content-hashed URLs."""

from __future__ import annotations

import functools
import hashlib
import json
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from babel.messages.extract import extract_from_file
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markupsafe import Markup, escape

from server import ROOT
from server.i18n import LANGUAGE_INFO, LANGUAGES, Translator, lang_prefix, localize_path
from server.places import state_name, states_sorted
from server.public_contact import link_phones, phone_spans

WEB = ROOT / "web"
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"
SERVICE_WORKER_DIR = ROOT / "service-worker"
# The service worker's source, one file a job, in the order the server joins them into the
# one classic script it serves as /sw.js (no importScripts: the browser keeps one file).
# sw.js comes first: "use strict", the constants and the listeners that start each job.
SERVICE_WORKER_PARTS = tuple(SERVICE_WORKER_DIR / name for name in (
    "sw.js", "push.js", "bundle.js", "strategies.js", "network.js", "interest.js",
    "helpers.js", "suggestions.js"))
SHARED_NAMES = ROOT / "web" / "shared" / "names.js"
SHARED_NAMES_MARK = b"/* vigil:shared-names */"


def service_worker_script(parts: Iterable[Path] = SERVICE_WORKER_PARTS) -> bytes:
    """The worker's parts joined, a blank line between two, before its placeholders and
    shared names are filled in (server/views/offline.py)."""
    return b"\n".join(part.read_bytes() for part in parts)


def with_shared_names(source: bytes) -> bytes:
    """A script with web/shared/names.js written in where it asks for the shared names."""
    if SHARED_NAMES_MARK not in source:
        return source
    return source.replace(SHARED_NAMES_MARK, SHARED_NAMES.read_bytes().strip())

def _phone_links(state: StateCore) -> None:
    """A markdown-it rule: phone numbers in text, outside links, become links that dial."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        in_link = 0
        for token in block.children:
            in_link += {"link_open": 1, "link_close": -1}.get(token.type, 0)
            if token.type != "text" or in_link:
                children.append(token)
                continue
            for piece, href in phone_spans(token.content):
                if href:
                    children.append(Token("link_open", "a", 1, attrs={"href": href}))
                children.append(Token("text", "", 0, content=piece))
                if href:
                    children.append(Token("link_close", "a", -1))
        block.children = children


# Raw HTML off: rights articles and previews are Markdown only, so nothing typed becomes markup.
_OPTIONS = {"html": False, "linkify": False, "typographer": True}
_markdown = MarkdownIt("commonmark", _OPTIONS)
_markdown_dialling = MarkdownIt("commonmark", _OPTIONS)
_markdown_dialling.core.ruler.push("phone_links", _phone_links)


def markdown(text: str, phones: bool = False) -> Markup:
    """Markdown as markup; with `phones`, every phone number in it a link that dials it."""
    md = _markdown_dialling if phones else _markdown
    return Markup(md.render(text or ""))  # noqa: S704 (markdown-it with html off escapes)


def breakable(text: str | None) -> Markup:
    """An address or a domain that may wrap after its dots and slashes (<wbr>) rather than
    be cut inside a word on a narrow screen with large text."""
    return Markup("<wbr>").join(escape(part) for part in re.split(r"(?<=[./?&=])", text or ""))


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


@dataclass(frozen=True)
class Asset:
    path: str
    body: bytes
    media_type: str
    digest: str


class StaticAssets:
    """Files under web/static, read once, each served at a URL carrying its hash."""

    def __init__(self, directory: Path = STATIC):
        self.assets: dict[str, Asset] = {}
        for file in sorted(directory.rglob("*")):
            if file.is_file():
                rel = file.relative_to(directory).as_posix()
                media = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                if file.suffix == ".webmanifest":
                    media = "application/manifest+json"
                body = file.read_bytes()
                if file.suffix == ".js":
                    body = with_shared_names(body)
                self.assets[rel] = Asset(rel, body, media, content_hash(body))

    def url(self, name: str) -> str:
        asset = self.assets[name]
        return f"/static/{name}?v={asset.digest}"

    def get(self, name: str) -> Asset | None:
        return self.assets.get(name)


def build_environment(assets: StaticAssets) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals.update(
        static=assets.url,
        state_name=state_name,
        states_sorted=states_sorted,
        markdown=markdown,
        languages=LANGUAGES,
        language_info=LANGUAGE_INFO,
        localize_path=localize_path,
    )
    env.filters["phones"] = link_phones
    env.filters["breakable"] = breakable
    env.filters["tojson_compact"] = lambda v: Markup(  # noqa: S704 (<, >, & escaped below)
        json.dumps(v, ensure_ascii=False, separators=(",", ":"))
        .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )
    return env


class Renderer:
    """Renders page templates with the language's gettext and URL helpers."""

    def __init__(self, env: jinja2.Environment, translators: dict[str, Translator]):
        self.env = env
        self.translators = translators

    def render(self, template: str, lang: str, path: str, **context: Any) -> str:
        tr = self.translators[lang]
        prefix = lang_prefix(lang)

        def url(p: str) -> str:
            return localize_path(p, lang) if prefix else p

        return self.env.get_template(template).render(
            _=tr.gettext,
            ngettext=tr.ngettext,
            pgettext=tr.pgettext,
            gettext=tr.plain,  # plain text, for JSON handed to scripts
            tr=tr,
            lang=lang,
            url=url,
            path=path,
            **context,
        )


@functools.cache
def card_messages() -> tuple[str, ...]:
    """The catalog's messages the card is written with, as its template uses them."""
    found = extract_from_file("jinja2", TEMPLATES / "card.html",
                              options={"trim_blocks": "true"})
    return tuple(m if isinstance(m, str) else m[0] for _line, m, _comments, _ctx in found)


def card_text(tr: Translator) -> str:
    """The holder's side as a language's catalog writes it: what a native speaker checks."""
    return "\n".join(tr.plain(m) for m in card_messages())
