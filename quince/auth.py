"""Bearer-token auth (falcon middleware).

With a token (``api.token`` or ``STACKTACH_API_TOKEN``), ``PUT`` and ``DELETE``
need ``Authorization: Bearer <token>``; with ``api.auth_reads: true`` every
route but ``/healthcheck`` and the console's static files (``/ui``) does.
``GET /v1/stream`` also takes ``?token=`` (a browser's EventSource cannot send
headers); quince-api's access log leaves it out. The comparison is constant-time
(:func:`hmac.compare_digest`); neither the expected nor the given token is ever
logged or echoed in a response.
"""

from __future__ import annotations

import hmac

import falcon

from quince.context import QuinceContext

__all__ = ["TokenAuth"]

OPEN_PATHS = frozenset({"/healthcheck"})
#: The console's page and files hold no data (they ask for the token).
OPEN_PREFIXES = ("/ui/",)
#: Routes that may carry the token as ``?token=`` (server-sent events).
QUERY_TOKEN_PATHS = frozenset({"/v1/stream"})
WRITES = frozenset({"PUT", "DELETE", "POST", "PATCH"})


class TokenAuth:
    """Refuses requests without the token where one is needed (401)."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        token = self.ctx.token
        if token is None or req.path in OPEN_PATHS:
            return
        if req.path == "/ui" or req.path.startswith(OPEN_PREFIXES):
            return
        if req.method not in WRITES and not self.ctx.settings.api.auth_reads:
            return
        given = req.get_header("Authorization") or ""
        if not given and req.path in QUERY_TOKEN_PATHS and req.method == "GET":
            given = "Bearer " + (req.get_param("token") or "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode("utf-8", "surrogatepass"),
            token.encode("utf-8", "surrogatepass"),
        ):
            return
        raise falcon.HTTPUnauthorized(
            title="Token required",
            description="Send 'Authorization: Bearer <token>' (api.token).",
            challenges=["Bearer"],
        )
