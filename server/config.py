"""Settings, read once from the environment."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from server import ROOT

log = logging.getLogger("vigil")

DEFAULT_PUSH_HOSTS = (
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "*.notify.windows.com",
    "*.push.apple.com",
)
DEFAULT_SUBJECT = "mailto:admin@localhost.invalid"


class ConfigError(Exception):
    """A setting has a value Vigil cannot use."""


@dataclass(frozen=True)
class Settings:
    db_path: Path = Path("var/vigil.db")
    # A postgresql:// URL when VIGIL_DB names one; db_path is then unused.
    db_url: str = ""
    secret_key: str = ""
    vapid_key_path: Path | None = Path("var/vapid.pem")
    vapid_key_pem: str | None = None
    vapid_subject: str = DEFAULT_SUBJECT
    push_hosts: tuple[str, ...] = DEFAULT_PUSH_HOSTS
    base_url: str = "http://127.0.0.1:8000"
    # Alerts wait for a second organizer when the deployment has two or more.
    session_idle_seconds: int = 2 * 60 * 60
    push_concurrency: int = 64
    push_timeout: float = 10.0
    push_max_attempts: int = 5
    suggest_min_seconds: float = 3.0
    # Reverse proxies whose X-Forwarded-For tells clients apart (for rate limits only).
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # SMS through a Twilio-compatible Messages API; off while sms_url is empty.
    sms_url: str = ""
    sms_from: str = ""
    sms_user: str = ""
    sms_token: str = ""
    sms_rate: float = 1.0  # texts a second (a US long code sends about one)
    root: Path = ROOT
    data_dir: Path = field(default_factory=lambda: ROOT / "data")

    @property
    def database(self) -> Path | str:
        """What VIGIL_DB names: the SQLite file or the PostgreSQL URL."""
        return self.db_url or self.db_path

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def sms_on(self) -> bool:
        return bool(self.sms_url)


def _read_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def validate_subject(subject: str) -> str:
    if not (subject.startswith("mailto:") or subject.startswith("https://")):
        raise ConfigError(f"VIGIL_VAPID_SUBJECT must start with mailto: or https:, got {subject!r}")
    if len(subject) <= len("mailto:") + 2:
        raise ConfigError("VIGIL_VAPID_SUBJECT is too short to identify anyone")
    return subject


def parse_trusted_proxies(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network,
                                                ...]:
    """VIGIL_TRUSTED_PROXIES: addresses or networks (10.0.0.0/8), separated by commas."""
    networks = []
    for part in value.replace(" ", ",").split(","):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part.strip("[]"), strict=False))
        except ValueError:
            raise ConfigError(f"VIGIL_TRUSTED_PROXIES: {part!r} is not an IP address or "
                              "network (like 127.0.0.1, ::1 or 10.0.0.0/8)") from None
    return tuple(networks)


def parse_sms(env) -> dict:
    """VIGIL_SMS_URL, _FROM, _USER, _TOKEN and _RATE: all of the first four, or none."""
    url = (env.get("VIGIL_SMS_URL") or "").strip().rstrip("/")
    values = {"sms_url": url, "sms_from": (env.get("VIGIL_SMS_FROM") or "").strip(),
              "sms_user": (env.get("VIGIL_SMS_USER") or "").strip(),
              "sms_token": (env.get("VIGIL_SMS_TOKEN") or "").strip()}
    if url:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"VIGIL_SMS_URL must be an http(s) URL, got {url!r}")
        missing = [f"VIGIL_{k.upper()}" for k in ("sms_from", "sms_user", "sms_token")
                   if not values[k]]
        if missing:
            raise ConfigError(f"VIGIL_SMS_URL is set, so {', '.join(missing)} must be too")
        if not re.fullmatch(r"\+[1-9]\d{6,14}", values["sms_from"]):
            raise ConfigError("VIGIL_SMS_FROM must be a number in E.164 form, like +15035550100")
    rate = env.get("VIGIL_SMS_RATE") or "1"
    try:
        values["sms_rate"] = float(rate)
    except ValueError:
        values["sms_rate"] = 0.0
    if not 0 < values["sms_rate"] <= 10_000:
        raise ConfigError(f"VIGIL_SMS_RATE must be texts a second above 0, got {rate!r}")
    return values


def from_env(environ: dict[str, str] | None = None, *, create_files: bool = True) -> Settings:
    """Build settings from environment variables (INTERFACE.md's table)."""
    env = os.environ if environ is None else environ
    db = env.get("VIGIL_DB", "var/vigil.db")
    db_url = db if db.startswith(("postgresql://", "postgres://")) else ""
    secret = env.get("VIGIL_SECRET_KEY") or ""
    if not secret and create_files:
        secret = _read_or_create_secret(Path("var/secret.key"))
    # VIGIL_VAPID_KEY names the PEM file; a value that is itself a PEM key is accepted too.
    vapid_raw = env.get("VIGIL_VAPID_KEY") or "var/vapid.pem"
    vapid_pem = vapid_raw if vapid_raw.lstrip().startswith("-----BEGIN") else None
    subject = env.get("VIGIL_VAPID_SUBJECT", "")
    if not subject:
        log.warning("VIGIL_VAPID_SUBJECT is not set; push services may refuse %s", DEFAULT_SUBJECT)
        subject = DEFAULT_SUBJECT
    validate_subject(subject)
    hosts_raw = env.get("VIGIL_PUSH_HOSTS")
    hosts = (
        tuple(h.strip() for h in hosts_raw.split(",") if h.strip())
        if hosts_raw is not None
        else DEFAULT_PUSH_HOSTS
    )
    base_url = env.get("VIGIL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"VIGIL_BASE_URL must be an http(s) URL, got {base_url!r}")
    sms = parse_sms(env)
    return Settings(
        **sms,
        db_path=Path("var/vigil.db") if db_url else Path(db),
        db_url=db_url,
        secret_key=secret,
        vapid_key_path=None if vapid_pem else Path(vapid_raw),
        vapid_key_pem=vapid_pem,
        vapid_subject=subject,
        push_hosts=hosts,
        base_url=base_url,
        trusted_proxies=parse_trusted_proxies(env.get("VIGIL_TRUSTED_PROXIES", "")),
    )
