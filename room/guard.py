"""Who may talk to the writers' room: the hosts it answers as, its token, and a key on every change.

- **Host**: on loopback a request must name ``127.0.0.1``, ``localhost`` or ``[::1]`` with the room's port in
  its ``Host`` header, so a web page elsewhere cannot reach it through a DNS name it rebinds to 127.0.0.1.
- **Token** (required by ``dsr room`` for any non-loopback ``--host``): every request carries it, in the
  ``?token=`` of the printed address the first time (the room then sets it as a cookie) or in that cookie.
- **Key**: every POST carries the room's per-process key in ``X-Room-Key``; pages the room served hold it,
  other sites cannot read it (no CORS), so a form posted from elsewhere is refused.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

LOOPBACK = ("127.0.0.1", "localhost", "::1")
COOKIE = "dsr_room_token"
KEY_HEADER = "x-room-key"


def allowed_hosts(host: str, port: int) -> set[str] | None:
    """``Host`` headers a loopback room answers to; None (any) for another address, which needs a token."""
    if host not in LOOPBACK:
        return None
    return {f"[{name}]:{port}" if ":" in name else f"{name}:{port}" for name in LOOPBACK}


def is_loopback(host: str) -> bool:
    return host in LOOPBACK


class Guard:
    """Starlette middleware (``http`` only) enforcing host, token and key."""

    def __init__(self, app: Any, *, hosts: set[str] | None, token: str | None, key: str) -> None:
        self.app, self.hosts, self.token, self.key = app, hosts, token, key

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]], send: Any
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        given = request.query_params.get("token")
        if self.token and given and request.method == "GET":
            # The token leaves the address bar: the same page again, the token now in a cookie.
            clean = request.url.remove_query_params("token")
            response = RedirectResponse(str(clean), status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        host = request.headers.get("host", "")
        if self.hosts is not None and host not in self.hosts:
            where = sorted(self.hosts)[0]
            return PlainTextResponse(
                f"this writers' room answers only at http://{where}/ (not {host or 'no host'})\n", 421
            )
        if self.token:
            given = request.query_params.get("token") or request.cookies.get(COOKIE) or ""
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return PlainTextResponse(
                    "this writers' room needs its token: open the address `dsr room` printed\n", 401
                )
        if request.method not in ("GET", "HEAD"):
            key = request.headers.get(KEY_HEADER, "")
            if not hmac.compare_digest(key.encode(), self.key.encode()):
                return PlainTextResponse(
                    "refused: a change must come from a page of this writers' room\n", 403
                )
        return None


def new_key() -> str:
    return secrets.token_urlsafe(24)
