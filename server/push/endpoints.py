"""Which push services Vigil may POST to: endpoint validation and the VIGIL_PUSH_HOSTS allowlist.

An endpoint is a capability URL chosen by the browser, so it is untrusted input that the
server will later POST to: it must name one of the push services in VIGIL_PUSH_HOSTS and
nothing else (no IP literals, other ports, user info or lookalike hosts).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

from server.config import ConfigError

MAX_ENDPOINT = 2048


class PushInputError(ValueError):
    """A subscription, topic or endpoint a visitor sent that Vigil will not accept."""


_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# What may follow the authority: RFC 3986 unreserved, reserved and '%'; no '#', '\' or spaces.
_PATH_RE = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")
_NUMERIC_LABEL_RE = re.compile(r"0x[0-9a-f]*|[0-9]+")
_BAD_CHARS_RE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # lower-case ASCII; IPv6 in brackets
    port: int
    is_ip: bool
    url: str  # the canonical form that is stored and POSTed to


def _normalise_host(raw: str, what: str) -> tuple[str, bool]:
    """(host, is_ip) in canonical form, or PushInputError."""
    if not raw:
        raise PushInputError(f"{what} has no host")
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise PushInputError(f"{what} has a malformed IPv6 address")
        try:
            ip6 = ipaddress.IPv6Address(raw[1:-1])
        except ValueError:
            raise PushInputError(f"{what} has a malformed IPv6 address") from None
        return f"[{ip6.compressed}]", True
    host = raw
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise PushInputError(f"{what} host is not a valid domain name") from None
    host = host.lower()
    if host.endswith("."):
        raise PushInputError(f"{what} host must not end with a dot")
    labels = host.split(".")
    # The WHATWG URL parser reads a host whose last label is a number as IPv4
    # (2130706433, 0x7f.1, 127.1 are all 127.0.0.1), so treat it as an address.
    if _NUMERIC_LABEL_RE.fullmatch(labels[-1]):
        try:
            return str(ipaddress.IPv4Address(host)), True
        except ValueError:
            raise PushInputError(
                f"{what} host looks like an IP address written in a non-standard form"
            ) from None
    if len(host) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise PushInputError(f"{what} host is not a valid domain name")
    return host, False


def _parse_url(url: str, what: str = "endpoint", *, need_path: bool = True) -> _Target:
    if not url:
        raise PushInputError(f"{what} is empty")
    if len(url) > MAX_ENDPOINT:
        raise PushInputError(f"{what} is longer than {MAX_ENDPOINT} characters")
    if _BAD_CHARS_RE.search(url):
        raise PushInputError(f"{what} must not contain spaces or control characters")
    scheme_match = _SCHEME_RE.match(url)
    if scheme_match is None:
        raise PushInputError(f"{what} must be an absolute https URL")
    scheme = scheme_match.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        raise PushInputError(f"{what} must be an https URL, not {scheme}:")
    if "#" in url:
        raise PushInputError(f"{what} must not contain a fragment (#)")
    if "\\" in url:
        raise PushInputError(f"{what} must not contain a backslash")
    rest = url[scheme_match.end():]
    if not rest.startswith("//"):
        raise PushInputError(f"{what} must be an absolute https URL")
    rest = rest[2:]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, path = rest[:cut], rest[cut:]
    if "@" in authority:
        raise PushInputError(f"{what} must not contain a user name or password")
    if "%" in authority:
        raise PushInputError(f"{what} host must not be percent-encoded")
    if authority.startswith("["):
        close = authority.find("]")
        host_raw, port_raw = authority[: close + 1], authority[close + 1:]
        if close < 0 or (port_raw and not port_raw.startswith(":")):
            raise PushInputError(f"{what} has a malformed IPv6 address")
        has_port = bool(port_raw)
        port_raw = port_raw[1:]
    else:
        host_raw, has_port, port_raw = authority.partition(":")
        if ":" in port_raw:
            raise PushInputError(f"{what} has a malformed host")
    if has_port:
        if not (port_raw.isascii() and port_raw.isdigit() and 0 < len(port_raw) <= 5):
            raise PushInputError(f"{what} has an invalid port")
        port = int(port_raw)
        if not 0 < port < 65536:
            raise PushInputError(f"{what} has an invalid port")
    else:
        port = _DEFAULT_PORTS[scheme]
    host, is_ip = _normalise_host(host_raw, what)
    if path or need_path:
        if not path.startswith("/"):
            raise PushInputError(f"{what} needs a path")
        if not _PATH_RE.fullmatch(path):
            raise PushInputError(f"{what} contains characters that are not allowed in a URL")
    netloc = host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return _Target(scheme, host, port, is_ip, f"{scheme}://{netloc}{path}")


@dataclass(frozen=True)
class _Allowlist:
    hosts: frozenset[str]
    wildcards: tuple[str, ...]  # suffixes, without the "*."
    origins: frozenset[tuple[str, str, int]]


def _parse_allowlist_entry(entry: str) -> tuple[str, str | tuple[str, str, int]]:
    text = entry.strip()
    what = f"push host {entry!r}"
    if "://" in text:
        target = _parse_url(text.rstrip("/"), what, need_path=False)
        if target.url.split("://", 1)[1].count("/"):
            raise PushInputError(f"{what} must be an origin without a path")
        return "origin", (target.scheme, target.host, target.port)
    wildcard = text.startswith("*.")
    if wildcard:
        text = text[2:]
    host_raw, has_port, port = text.partition(":")
    if has_port and port != "443":
        raise PushInputError(f"{what}: a host pattern means https on port 443")
    host, is_ip = _normalise_host(host_raw, what)
    if is_ip:
        raise PushInputError(f"{what}: name an IP address as a full origin, e.g. https://{host}")
    return ("wildcard" if wildcard else "host"), host


@lru_cache(maxsize=16)
def _compile_allowlist(entries: tuple[str, ...]) -> _Allowlist:
    hosts, wildcards, origins = set(), [], set()
    for entry in entries:
        try:
            kind, value = _parse_allowlist_entry(entry)
        except PushInputError:
            continue  # check_allowlist() reports these at start-up
        if kind == "origin":
            origins.add(value)
        elif kind == "wildcard":
            wildcards.append(value)
        else:
            hosts.add(value)
    return _Allowlist(frozenset(hosts), tuple(wildcards), frozenset(origins))


def check_allowlist(entries: tuple[str, ...]) -> None:
    """Raise ConfigError naming the first VIGIL_PUSH_HOSTS entry that cannot be used."""
    if not entries:
        raise ConfigError("VIGIL_PUSH_HOSTS is empty: no push service would be allowed")
    for entry in entries:
        try:
            _parse_allowlist_entry(entry)
        except PushInputError as exc:
            raise ConfigError(f"VIGIL_PUSH_HOSTS: {exc}") from None


def check_endpoint(endpoint: object, allowlist: tuple[str, ...]) -> str:
    """The canonical endpoint if it names an allowed push service, else PushInputError."""
    if not isinstance(endpoint, str):
        raise PushInputError("endpoint must be a string")
    target = _parse_url(endpoint)
    allowed = _compile_allowlist(tuple(allowlist))
    if (target.scheme, target.host, target.port) in allowed.origins:
        return target.url
    if target.is_ip:
        raise PushInputError("endpoint must name a push service, not an IP address")
    if target.scheme != "https":
        raise PushInputError("endpoint must use https")
    if target.port != 443:
        raise PushInputError("endpoint must use the standard https port (443)")
    host = target.host
    if host in allowed.hosts or any(
        host.endswith("." + suffix) for suffix in allowed.wildcards
    ):
        return target.url
    raise PushInputError(f"endpoint host {host} is not an allowed push service")


def endpoint_allowed(endpoint: str, allowlist: tuple[str, ...]) -> bool:
    """Whether Vigil may POST to this endpoint (see check_endpoint for the reasons)."""
    try:
        check_endpoint(endpoint, allowlist)
    except PushInputError:
        return False
    return True


def canonical_endpoint(endpoint: str) -> str:
    """The stored form of an endpoint (lower-case host, no default port); as-is if unparsable."""
    try:
        return _parse_url(endpoint).url
    except PushInputError:
        return endpoint

