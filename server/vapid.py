"""The VAPID key pair (RFC 8292): created once, kept private, public half served."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.config import ConfigError, Settings


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _create(path: Path) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return pem


def load_private_key(settings: Settings, create: bool = True) -> ec.EllipticCurvePrivateKey:
    """The VAPID private key from VIGIL_VAPID_KEY, created (mode 0600) if missing."""
    if settings.vapid_key_pem:
        pem = settings.vapid_key_pem.encode()
        where = "VIGIL_VAPID_KEY"
    else:
        path = settings.vapid_key_path
        assert path is not None
        where = str(path)
        if path.exists():
            pem = path.read_bytes()
        elif create:
            pem = _create(path)
        else:
            raise ConfigError(f"no VAPID key at {path}")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where} is not a PEM private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"{where} must be a P-256 (prime256v1) EC key")
    return key


def application_server_key(key: ec.EllipticCurvePrivateKey) -> str:
    """The uncompressed public point, base64url: what pushManager.subscribe() needs."""
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(raw)
