"""Static files, served from memory; a URL carrying the current content hash is cached forever."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from server.views.base import Prepared, cached_response, not_found, services

IMMUTABLE = "public, max-age=31536000, immutable"


async def static_file(request: Request) -> Response:
    asset = services(request).assets.get(request.path_params["path"])
    if asset is None:
        raise not_found()
    # Only the current hash is cacheable forever; any other URL must revalidate.
    fresh = request.query_params.get("v") == asset.digest
    cache = IMMUTABLE if fresh else "no-cache"
    prepared = services(request).prepared_assets
    if asset.path not in prepared:
        prepared[asset.path] = Prepared.of(asset.body)
    return cached_response(request, prepared[asset.path], asset.media_type, cache, reuse=("v",))
