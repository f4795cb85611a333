"""What views reach through request.app.state.vigil: one typed object built by create_app."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from server.auth import FormStamp, SessionSigner, Throttle
from server.config import Settings
from server.database import Database
from server.middleware import AccessLog
from server.push import PushSender
from server.render import Renderer, StaticAssets
from server.views.base import Prepared, RenderCache


@dataclass
class Services:
    settings: Settings
    db: Database
    assets: StaticAssets
    renderer: Renderer
    push: PushSender  # started by the lifespan; wake() it after committing an enqueue
    vapid_public_key: str  # the application server key browsers subscribe with
    access_log: AccessLog
    sessions: SessionSigner
    login_stamp: FormStamp
    login_throttle_account: Throttle
    login_throttle_client: Throttle
    suggest_stamp: FormStamp
    suggest_throttle: Throttle
    render_cache: RenderCache = field(default_factory=RenderCache)
    # Static files and the service worker never change while the process runs.
    prepared_assets: dict[str, Prepared] = field(default_factory=dict)
    service_worker: Prepared | None = None

    @property
    def extras(self) -> Mapping[str, Any]:
        """The sign-in objects by name, for code that looks them up by key."""
        return {
            "sessions": self.sessions,
            "login_stamp": self.login_stamp,
            "login_throttle_account": self.login_throttle_account,
            "login_throttle_client": self.login_throttle_client,
        }
