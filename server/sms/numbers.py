"""Phone numbers, the only personal data Vigil holds: encrypted at rest, found by a keyed hash.

Both keys are derived from VIGIL_SECRET_KEY with HKDF, one for AES-GCM and one for the
HMAC, so a copy of the database alone reveals no number and cannot be searched for one
(a plain hash of a ten-digit number is undone by trying them all). Changing the secret key
makes stored numbers unreadable: their subscribers must text again.

No function here logs, and no caller may log, a number; logs name a subscriber's row id.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

E164 = re.compile(r"\+[1-9]\d{6,14}")
_AAD = b"vigil sms number"


class NumberError(ValueError):
    """Not a phone number in E.164 form."""


def normalize(raw: str) -> str:
    """+15035550100 from what a provider or a person wrote; US ten-digit numbers get +1."""
    digits = re.sub(r"[\s().-]", "", raw or "")
    if re.fullmatch(r"\d{10}", digits):
        digits = "+1" + digits
    elif re.fullmatch(r"1\d{10}", digits):
        digits = "+" + digits
    if not E164.fullmatch(digits):
        raise NumberError("not a phone number")
    return digits


@lru_cache(maxsize=8)
def _key(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"vigil sms",
                info=purpose).derive(secret.encode("utf-8"))


def number_hash(secret: str, number: str) -> str:
    """The keyed hash that finds a subscriber's row (and tells entries apart) without the
    number."""
    return hmac.new(_key(secret, b"number hash"), number.encode(), hashlib.sha256).hexdigest()


def encrypt(secret: str, number: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(_key(secret, b"number encryption")).encrypt(nonce, number.encode(),
                                                                       _AAD)


def decrypt(secret: str, blob: bytes) -> str:
    return AESGCM(_key(secret, b"number encryption")).decrypt(
        bytes(blob[:12]), bytes(blob[12:]), _AAD).decode()
