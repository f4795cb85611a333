"""Inbound texts from the provider: POST /sms/inbound (only while SMS is on).

The signature is checked on the raw form before anything acts on it; the keyword's answer
goes out as a text of its own through the outbox, never in the HTTP answer, so it is paced,
retried and recorded like every other text.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from server import sms
from server.sms.numbers import NumberError, normalize
from server.views.base import services

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def inbound(request: Request) -> Response:
    svc = services(request)
    settings = svc.settings
    if not settings.sms_on:
        raise HTTPException(404)
    raw = await request.body()
    try:
        params = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        params = []
    query = request.url.query
    url = settings.base_url + request.url.path + (f"?{query}" if query else "")
    if not sms.signature_ok(settings.sms_token, url, params,
                            request.headers.get("x-twilio-signature")):
        return PlainTextResponse("The request is not signed by the SMS provider.", 403)
    fields = dict(params)
    try:
        number = normalize(fields.get("From", ""))
    except NumberError:
        return Response(EMPTY_TWIML, media_type="text/xml")
    body = fields.get("Body", "")[:1600]
    await svc.db.write_fn(
        lambda conn: sms.handle_text(conn, settings.secret_key, number, body))
    svc.sms.wake()
    return Response(EMPTY_TWIML, media_type="text/xml")


def routes() -> list[BaseRoute]:
    return [Route("/sms/inbound", inbound, methods=["POST"])]
