"""The Twilio-compatible Messages API: one POST per text, and the signature on inbound ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp

from server.config import Settings
from server.push.verdicts import parse_retry_after


@dataclass(frozen=True, slots=True)
class Answer:
    code: int | None  # None: no answer (network error or timeout)
    sid: str | None = None
    retry_after: float | None = None


class Gateway:
    """POSTs {VIGIL_SMS_URL}/Messages.json through one aiohttp session (opened by start)."""

    def __init__(self, settings: Settings, timeout: float = 10.0):
        self.url = settings.sms_url + "/Messages.json"
        self.sender = settings.sms_from
        credentials = f"{settings.sms_user}:{settings.sms_token}".encode()
        self.headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode()}
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=self.timeout, connect=min(self.timeout, 5.0)))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, to: str, body: str) -> Answer:
        assert self._session is not None, "Gateway.start() first"
        try:
            async with self._session.post(
                    self.url, data={"To": to, "From": self.sender, "Body": body},
                    headers=self.headers, allow_redirects=False) as response:
                code = response.status
                if code in (200, 201):
                    try:
                        data = await response.json(content_type=None)
                    except ValueError:
                        data = {}
                    sid = data.get("sid") if isinstance(data, dict) else None
                    return Answer(code, str(sid) if sid else None)
                await response.read()
                return Answer(code, None, parse_retry_after(response.headers.get("Retry-After")))
        except (aiohttp.ClientError, TimeoutError):
            return Answer(None)


def signature(token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 over the URL followed by each field's name and
    value, sorted by name (a name given twice, by its values too)."""
    data = url + "".join(k + v for k, v in sorted(params))
    mac = hmac.new(token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def signature_ok(token: str, url: str, params: Iterable[tuple[str, str]],
                 given: str | None) -> bool:
    if not token or not given:
        return False
    return hmac.compare_digest(signature(token, url, params).encode(), given.encode())
