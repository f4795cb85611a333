"""The plain ASGI middlewares every request passes through, one concern each.

server.app stacks them in this order, outermost first:

- AccessLogMiddleware: one access-log line per request (access_log);
- KeptAnswersMiddleware: public answers kept whole, given before routing (kept_answers),
  with the security headers the next layer gives every other response;
- SecurityHeadersMiddleware: the security headers on every response (security_headers);
- ForwardedClientMiddleware: the client behind a trusted reverse proxy (forwarded), only
  when there are trusted proxies;
- BodyLimitMiddleware: bodies over the limit refused with 413 (body_limit);
- BodyDeadlineMiddleware: bodies not in on time refused with 408 (body_deadline);
- LanguagePrefixMiddleware: /es/... served by the English routes (language).

Each layer sees what the ones within it send, so every refusal and kept answer is logged
and carries the security headers. The requests most traffic is made of (kept answers)
pass through two layers.
"""

from server.middleware.access_log import AccessLog, AccessLogMiddleware, escape_controls
from server.middleware.body_deadline import BodyDeadlineMiddleware
from server.middleware.body_limit import BodyLimitMiddleware
from server.middleware.forwarded import ForwardedClientMiddleware
from server.middleware.kept_answers import KeptAnswersMiddleware
from server.middleware.language import LanguagePrefixMiddleware
from server.middleware.security_headers import SecurityHeaders, SecurityHeadersMiddleware

__all__ = [
    "AccessLog",
    "AccessLogMiddleware",
    "BodyDeadlineMiddleware",
    "BodyLimitMiddleware",
    "ForwardedClientMiddleware",
    "KeptAnswersMiddleware",
    "LanguagePrefixMiddleware",
    "SecurityHeaders",
    "SecurityHeadersMiddleware",
    "escape_controls",
]
