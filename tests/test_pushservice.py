"""The loopback push service speaks real RFC 8030/8291/8292 and can fail on demand.

These tests drive it with the same library Vigil uses (pywebpush 2.x, py_vapid),
so they also pin down the pywebpush behaviours Vigil relies on.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import requests
from py_vapid import Vapid, Vapid01, Vapid02
from py_vapid.jwt import sign as jwt_sign
from pywebpush import WebPusher, WebPushException, webpush, webpush_async

try:
    from pushservice import MAX_BODY, PushService, b64url_decode, b64url_encode
except ImportError:  # tests/ is a package
    from tests.pushservice import MAX_BODY, PushService, b64url_decode, b64url_encode

SUB = "mailto:test@example.invalid"


# ---------------------------------------------------------------- fixtures / helpers


@pytest.fixture
def push():
    with PushService() as service:
        yield service
    assert service.errors == []


@pytest.fixture(scope="module")
def vapid() -> Vapid02:
    key = Vapid()
    key.generate_keys()
    return key


def public_key_b64(key: Vapid01) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url_encode(raw)


def claims_for(push: PushService, **overrides) -> dict:
    claims = {"sub": SUB, "aud": push.origin, "exp": int(time.time()) + 3600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def handmade_auth(key: Vapid01, claims: dict, *, k: str | None = None) -> dict:
    """A VAPID header signed with py_vapid's JWT code but none of its claim checks,
    so tests can send claims py_vapid would refuse to sign."""
    token = jwt_sign(claims, key.private_key)
    return {"Authorization": f"vapid t={token},k={k or public_key_b64(key)}"}


def send(push, sub_info, data, vapid, **kwargs):
    kwargs.setdefault("vapid_claims", claims_for(push))
    kwargs.setdefault("timeout", 5)
    return webpush(sub_info, data, vapid_private_key=vapid, **kwargs)


def expect_status(status: int, *args, **kwargs) -> WebPushException:
    with pytest.raises(WebPushException) as info:
        send(*args, **kwargs)
    assert info.value.status_code == status, str(info.value)
    return info.value


# ---------------------------------------------------------------- happy path


def test_subscription_info_has_push_subscription_to_json_shape(push):
    sub = push.new_subscription()
    info = sub.subscription_info()
    assert info == {
        "endpoint": f"{push.origin}/push/{sub.id}",
        "expirationTime": None,
        "keys": {"p256dh": sub.p256dh, "auth": sub.auth},
    }
    assert push.origin.startswith("http://127.0.0.1:")
    assert "=" not in sub.p256dh + sub.auth
    point = b64url_decode(sub.p256dh)
    assert len(point) == 65 and point[0] == 4
    assert len(b64url_decode(sub.auth)) == 16
    assert push.new_subscription().p256dh != sub.p256dh
    json.dumps(info)  # it is plain JSON


def test_sync_webpush_delivers_exact_plaintext(push, vapid):
    sub = push.new_subscription()
    payload = json.dumps({"title": "Vigil tonight", "body": "Délai — 19 h 00 ✊", "n": 1})
    claims = {"sub": SUB, "aud": push.origin, "exp": int(time.time()) + 3600}

    response = webpush(
        sub.subscription_info(), payload, vapid_private_key=vapid, vapid_claims=claims, timeout=5
    )

    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"{push.origin}/message/")
    [message] = push.wait_for(1)
    assert message.sub_id == sub.id
    assert message.payload == payload.encode("utf-8")
    assert message.json() == json.loads(payload)
    assert message.vapid_claims == claims
    assert message.vapid_key == public_key_b64(vapid)
    assert message.vapid_scheme == "vapid"
    assert message.location == response.headers["Location"]
    assert message.ttl == 0
    assert push.messages_for(sub) == [message]
    assert push.attempts[sub.id] == 1
    assert push.rejected == []


def test_pywebpush_sends_rfc8292_vapid_and_rfc8030_headers(push, vapid):
    sub = push.new_subscription()
    send(
        push,
        sub.subscription_info(),
        "x",
        vapid,
        ttl=60,
        headers={"Urgency": "high", "Topic": "vigil-42"},
    )

    [message] = push.wait_for(1)
    assert (message.ttl, message.urgency, message.topic) == (60, "high", "vigil-42")
    [headers] = push.request_headers
    # pywebpush lower-cases every header name; lookups here are case-insensitive
    assert headers["TTL"] == headers["ttl"] == "60"
    assert headers["Content-Encoding"] == "aes128gcm"
    assert headers["Authorization"].startswith("vapid t=")
    assert ",k=" in headers["Authorization"]
    assert "Crypto-Key" not in headers  # only the legacy Vapid01 scheme sends it
    assert "Encryption" not in headers  # only the legacy aesgcm encoding sends it


def test_largest_payload_fits_one_more_byte_is_413(push, vapid):
    sub = push.new_subscription()
    largest = MAX_BODY - 86 - 17  # aes128gcm header, padding delimiter, GCM tag
    send(push, sub.subscription_info(), "a" * largest, vapid)
    assert push.wait_for(1)[0].payload == b"a" * largest

    expect_status(413, push, sub.subscription_info(), "a" * (largest + 1), vapid)
    assert len(push.messages) == 1
    assert push.rejected[-1].status == 413


# ---------------------------------------------------------------- pywebpush 2.5 quirks


# ---------------------------------------------------------------- VAPID (RFC 8292)


def test_wrong_aud_is_rejected_and_nothing_stored(push, vapid):
    sub = push.new_subscription()
    wrong = push.origin.rsplit(":", 1)[0] + ":1"
    expect_status(
        401, push, sub.subscription_info(), "x", vapid, vapid_claims=claims_for(push, aud=wrong)
    )
    assert push.messages == []
    [rejection] = push.rejected
    assert (rejection.sub_id, rejection.status) == (sub.id, 401)
    assert "aud" in rejection.reason
    assert push.attempts[sub.id] == 1


def test_exp_more_than_24h_ahead_is_rejected(push, vapid):
    sub = push.new_subscription()
    claims = claims_for(push, exp=int(time.time()) + 24 * 3600 + 120)
    expect_status(401, push, sub.subscription_info(), "x", vapid, vapid_claims=claims)
    assert push.messages == []
    assert "24 h" in push.rejected[0].reason


def test_exp_just_under_24h_is_accepted(push, vapid):
    sub = push.new_subscription()
    claims = claims_for(push, exp=int(time.time()) + 24 * 3600 - 60)
    send(push, sub.subscription_info(), "x", vapid, vapid_claims=claims)
    assert len(push.wait_for(1)) == 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"sub": None}, "sub"),
        ({"sub": "test@example.invalid"}, "sub"),
        ({"sub": "http://example.invalid"}, "sub"),
        ({"exp": None}, "exp"),
        ({"exp": "9999999999"}, "exp"),
        ({"exp": 1_000_000_000}, "expired"),
        ({"aud": None}, "aud"),
        ({"aud": "ORIGIN/"}, "aud"),
    ],
)
def test_bad_claims_are_rejected(push, vapid, overrides, reason):
    # py_vapid refuses to sign most of these, and webpush() rewrites a past exp,
    # so the token is made by hand and handed to pywebpush as a plain header
    sub = push.new_subscription()
    if overrides.get("aud") == "ORIGIN/":
        overrides = {"aud": push.origin + "/"}
    claims = claims_for(push, **overrides)
    headers = handmade_auth(vapid, claims)
    expect_status(
        401, push, sub.subscription_info(), "x", vapid, vapid_claims=None, headers=headers
    )
    assert push.messages == []
    assert reason in push.rejected[0].reason


def test_handmade_token_with_good_claims_is_accepted(push, vapid):
    """Control for the test above: the hand-made header itself is fine."""
    sub = push.new_subscription()
    headers = handmade_auth(vapid, claims_for(push, sub="https://vigil.example.invalid/contact"))
    send(push, sub.subscription_info(), "x", vapid, vapid_claims=None, headers=headers)
    assert push.wait_for(1)[0].vapid_claims["sub"] == "https://vigil.example.invalid/contact"


def test_missing_authorization_is_401(push, vapid):
    sub = push.new_subscription()
    expect_status(401, push, sub.subscription_info(), "x", vapid, vapid_claims=None)
    assert "Authorization" in push.rejected[0].reason


def test_signature_from_another_key_is_401(push, vapid):
    impostor = Vapid()
    impostor.generate_keys()
    sub = push.new_subscription()
    headers = handmade_auth(impostor, claims_for(push), k=public_key_b64(vapid))
    expect_status(
        401, push, sub.subscription_info(), "x", vapid, vapid_claims=None, headers=headers
    )
    assert "signature" in push.rejected[0].reason


@pytest.mark.parametrize("part", ["header", "claims", "signature"])
def test_tampered_token_is_401(push, vapid, part):
    sub = push.new_subscription()
    token = jwt_sign(claims_for(push), vapid.private_key)
    head, body, sig = token.split(".")
    if part == "header":
        head = b64url_encode(b'{"typ":"JWT","alg":"HS256"}')
    elif part == "claims":
        body = b64url_encode(
            json.dumps(claims_for(push, sub="mailto:evil@example.invalid")).encode()
        )
    else:
        sig = sig[:-4] + ("AAAA" if not sig.endswith("AAAA") else "BBBB")
    headers = {"Authorization": f"vapid t={head}.{body}.{sig},k={public_key_b64(vapid)}"}
    expect_status(
        401, push, sub.subscription_info(), "x", vapid, vapid_claims=None, headers=headers
    )
    assert push.messages == []


def test_a_verified_token_does_not_vouch_for_a_changed_one(push, vapid):
    """The service remembers tokens it verified; any change to one is verified afresh."""
    sub = push.new_subscription()
    token = jwt_sign(claims_for(push), vapid.private_key)
    genuine = {"Authorization": f"vapid t={token},k={public_key_b64(vapid)}"}
    send(push, sub.subscription_info(), "x", vapid, vapid_claims=None, headers=genuine)
    send(push, sub.subscription_info(), "y", vapid, vapid_claims=None, headers=genuine)
    assert len(push.wait_for(2)) == 2
    head, _, sig = token.split(".")
    forged = b64url_encode(json.dumps(claims_for(push, sub="mailto:evil@example.invalid"))
                           .encode())
    impostor = Vapid()
    impostor.generate_keys()
    for headers in ({"Authorization": f"vapid t={head}.{forged}.{sig},k={public_key_b64(vapid)}"},
                    {"Authorization": f"vapid t={token},k={public_key_b64(impostor)}"}):
        expect_status(
            401, push, sub.subscription_info(), "z", vapid, vapid_claims=None, headers=headers
        )
    assert all("signature" in r.reason for r in push.rejected), push.rejected
    assert len(push.messages) == 2


def test_key_other_than_application_server_key_is_403(push, vapid):
    other = Vapid()
    other.generate_keys()
    sub = push.new_subscription(application_server_key=public_key_b64(vapid))
    expect_status(403, push, sub.subscription_info(), "x", other)
    assert push.rejected[0].status == 403
    send(push, sub.subscription_info(), "right key", vapid)
    assert push.wait_for(1)[0].payload == b"right key"


def test_legacy_webpush_scheme_is_refused_unless_enabled(push):
    legacy = Vapid01()
    legacy.generate_keys()
    sub = push.new_subscription()
    expect_status(401, push, sub.subscription_info(), "x", legacy)
    assert "legacy" in push.rejected[0].reason
    assert push.request_headers[0]["authorization"].startswith("WebPush ")
    assert push.request_headers[0]["crypto-key"].startswith("p256ecdsa=")

    push.accept_legacy_vapid = True
    send(push, sub.subscription_info(), "old style", legacy)
    [message] = push.wait_for(1)
    assert (message.payload, message.vapid_scheme) == (b"old style", "webpush")


# ---------------------------------------------------------------- encryption, RFC 8030 headers


def test_payload_encrypted_for_another_subscriber_is_400(push, vapid):
    alice, bob = push.new_subscription(), push.new_subscription()
    wrong = {"endpoint": alice.endpoint, "keys": bob.subscription_info()["keys"]}
    expect_status(400, push, wrong, "for bob's eyes", vapid)
    assert push.messages == []
    [rejection] = push.rejected
    assert rejection.sub_id == alice.id
    assert "decryption failed" in rejection.reason


def test_wrong_auth_secret_is_400(push, vapid):
    sub = push.new_subscription()
    info = sub.subscription_info()
    info["keys"]["auth"] = b64url_encode(bytes(16))
    expect_status(400, push, info, "x", vapid)


def test_legacy_aesgcm_encoding_is_400(push, vapid):
    sub = push.new_subscription()
    expect_status(400, push, sub.subscription_info(), "x", vapid, content_encoding="aesgcm")
    assert "aes128gcm" in push.rejected[0].reason


def test_missing_ttl_is_400(push, vapid):
    sub = push.new_subscription()
    body = WebPusher(sub.subscription_info()).encode(b"no ttl")["body"]
    headers = {"Content-Encoding": "aes128gcm", **handmade_auth(vapid, claims_for(push))}
    response = requests.post(sub.endpoint, data=body, headers=headers, timeout=5)
    assert response.status_code == 400
    assert "TTL" in push.rejected[0].reason

    # the very same request with a TTL goes through
    response = requests.post(sub.endpoint, data=body, headers={**headers, "TTL": "30"}, timeout=5)
    assert response.status_code == 201
    assert push.wait_for(1)[0].payload == b"no ttl"


@pytest.mark.parametrize(
    "headers",
    [{"Urgency": "urgent"}, {"Topic": "has spaces"}, {"Topic": "x" * 33}, {"TTL": "-1"}],
)
def test_invalid_rfc8030_headers_are_400(push, vapid, headers):
    sub = push.new_subscription()
    expect_status(400, push, sub.subscription_info(), "x", vapid, headers=headers)


def test_unknown_or_removed_subscription_is_404(push, vapid):
    sub = push.new_subscription()
    ghost = {**sub.subscription_info(), "endpoint": f"{push.origin}/push/nope"}
    expect_status(404, push, ghost, "x", vapid)
    assert push.attempts["nope"] == 1

    push.remove_subscription(sub)
    expect_status(404, push, sub.subscription_info(), "x", vapid)
    assert push.messages == []
    assert push.rejected == []  # not a protocol error


# ---------------------------------------------------------------- failure injection


@pytest.mark.parametrize("status", [404, 410, 413, 429, 500, 503])
def test_behaviour_status(push, vapid, status):
    sub = push.new_subscription()
    push.set_behaviour(sub, str(status), retry_after=7)
    for _ in range(2):  # without times= it sticks
        error = expect_status(status, push, sub.subscription_info(), "x", vapid)
        if status in (429, 503):
            assert error.retry_after == "7"
        else:
            assert error.retry_after is None
    assert push.messages == []
    assert push.attempts[sub.id] == 2


def test_behaviour_is_per_subscription(push, vapid):
    sick, healthy = push.new_subscription(), push.new_subscription()
    push.set_behaviour(sick.id, "410")
    expect_status(410, push, sick.subscription_info(), "x", vapid)
    send(push, healthy.subscription_info(), "fine", vapid)
    assert [m.sub_id for m in push.wait_for(1)] == [healthy.id]


def test_times_reverts_to_ok_so_a_retry_loop_succeeds(push, vapid):
    sub = push.new_subscription()
    push.set_behaviour(sub, "503", times=2, retry_after=0)
    statuses = []
    for _ in range(5):
        try:
            statuses.append(send(push, sub.subscription_info(), "eventually", vapid).status_code)
            break
        except WebPushException as exc:
            statuses.append(exc.status_code)
    assert statuses == [503, 503, 201]
    assert push.attempts[sub.id] == 3
    assert [m.payload for m in push.wait_for(1)] == [b"eventually"]


def test_set_behaviour_ok_clears(push, vapid):
    sub = push.new_subscription()
    push.set_behaviour(sub, "500")
    push.set_behaviour(sub, "ok")
    assert send(push, sub.subscription_info(), "x", vapid).status_code == 201


def test_unknown_behaviour_is_an_error(push):
    with pytest.raises(ValueError, match="behaviour"):
        push.set_behaviour("whatever", "418")


def test_drop_is_a_connection_error_for_requests(push, vapid):
    sub = push.new_subscription()
    push.set_behaviour(sub, "drop", times=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        send(push, sub.subscription_info(), "x", vapid)
    assert push.messages == []
    assert push.attempts[sub.id] == 1
    send(push, sub.subscription_info(), "after the drop", vapid)
    assert push.wait_for(1)[0].payload == b"after the drop"


def test_slow_answers_late_but_delivers(push, vapid):
    sub = push.new_subscription()
    push.set_behaviour(sub, "slow", delay=0.3, times=1)
    started = time.monotonic()
    assert send(push, sub.subscription_info(), "late", vapid).status_code == 201
    assert time.monotonic() - started >= 0.3
    assert push.messages[0].payload == b"late"


def test_slow_beyond_client_timeout_is_a_timeout_and_not_stored(push, vapid):
    sub = push.new_subscription()
    push.set_behaviour(sub, "slow", delay=3)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        send(push, sub.subscription_info(), "x", vapid, timeout=0.2)
    assert time.monotonic() - started < 2
    time.sleep(0.1)
    assert push.messages == []
    assert push.attempts[sub.id] == 1


def test_wait_for_times_out_with_a_useful_message(push, vapid):
    sub = push.new_subscription()
    push.set_behaviour(sub, "500")
    with pytest.raises(WebPushException):
        send(push, sub.subscription_info(), "x", vapid)
    with pytest.raises(TimeoutError, match=r"expected at least 1 message.*got 0.*attempts"):
        push.wait_for(1, timeout=0.1)


def test_stopped_service_refuses_connections(vapid):
    service = PushService().start()
    sub = service.new_subscription()
    service.stop()
    service.stop()  # idempotent
    with pytest.raises(requests.exceptions.ConnectionError):
        webpush(
            sub.subscription_info(),
            "x",
            vapid_private_key=vapid,
            vapid_claims={"sub": SUB},
            timeout=2,
        )


# ---------------------------------------------------------------- async (aiohttp)


@pytest.mark.asyncio
async def test_async_errors_expose_status_and_retry_after(push, vapid):
    sub = push.new_subscription()
    push.set_behaviour(sub, "429", retry_after=3, times=1)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(WebPushException) as info:
            await webpush_async(
                sub.subscription_info(),
                "x",
                vapid_private_key=vapid,
                vapid_claims=claims_for(push),
                timeout=5,
                aiohttp_session=session,
            )
        assert info.value.status_code == 429
        assert info.value.retry_after == "3"
        response = await webpush_async(
            sub.subscription_info(),
            "x",
            vapid_private_key=vapid,
            vapid_claims=claims_for(push),
            timeout=5,
            aiohttp_session=session,
        )
        assert response.status == 201


@pytest.mark.asyncio
async def test_async_drop_is_server_disconnected(push, vapid):
    sub = push.new_subscription()
    push.set_behaviour(sub, "drop")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await webpush_async(
                sub.subscription_info(),
                "x",
                vapid_private_key=vapid,
                vapid_claims=claims_for(push),
                timeout=5,
                aiohttp_session=session,
            )
    assert push.messages == []


@pytest.mark.asyncio
async def test_concurrent_deliveries_overlap_under_simulated_rtt(vapid):
    with PushService(delay=0.3) as push:
        subs = [push.new_subscription() for _ in range(10)]
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            responses = await asyncio.gather(
                *(
                    webpush_async(
                        sub.subscription_info(),
                        f"n{i}",
                        vapid_private_key=vapid,
                        vapid_claims=claims_for(push),
                        timeout=5,
                        aiohttp_session=session,
                    )
                    for i, sub in enumerate(subs)
                )
            )
            elapsed = time.monotonic() - started
        assert [r.status for r in responses] == [201] * 10
        assert 0.3 <= elapsed < 1.5  # 10 x 0.3 s = 3 s if they were serialised
        for i, sub in enumerate(subs):
            assert [m.payload for m in push.messages_for(sub)] == [f"n{i}".encode()]
        assert push.errors == []
