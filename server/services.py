"""What views reach through request.app.state.vigil: one typed object built by create_app."""

from __future__ import annotations

from dataclasses import dataclass, field

from server.auth import (
    AccountThrottle,
    DeviceCookies,
    FormStamp,
    SessionStore,
    SharedLimit,
    SpentStamps,
)
from server.caching import Prepared, RenderCache
from server.config import Settings
from server.database import Database
from server.fingerprints import Fingerprints
from server.middleware import AccessLog
from server.push import PushSender
from server.render import Renderer, StaticAssets
from server.sms import SmsSender


@dataclass
class Services:
    settings: Settings
    db: Database
    assets: StaticAssets
    renderer: Renderer
    push: PushSender  # started by the lifespan; wake() it after committing an enqueue
    vapid_public_key: str  # the application server key browsers subscribe with
    sms: SmsSender  # does nothing while SMS is off; wake() it after queueing texts
    access_log: AccessLog
    sessions: SessionStore
    devices: DeviceCookies
    login_stamp: FormStamp
    login_throttle_account: AccountThrottle
    login_throttle_device: SharedLimit
    suggest_stamp: FormStamp
    suggest_spent: SpentStamps
    suggest_throttle: SharedLimit
    subscribe_limit: SharedLimit
    render_cache: RenderCache = field(default_factory=RenderCache)
    fingerprints: Fingerprints = field(default_factory=Fingerprints)
    # Static files and the service worker never change while the process runs.
    prepared_assets: dict[str, Prepared] = field(default_factory=dict)
    service_worker: Prepared | None = None
    code_version: str | None = None  # templates, catalogs and assets (fingerprints.py)
