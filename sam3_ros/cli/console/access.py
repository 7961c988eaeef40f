"""Who may use the console: anyone on this machine on a loopback address; with the access token
on any other.

On another interface a robot's network would otherwise get an open control port: there the
console makes a random token, prints it once in its URL (`?token=...`), and from then on the
browser carries it as a cookie. On loopback the Host header must name a loopback address, so
that a web page whose name an attacker points at 127.0.0.1 (DNS rebinding) cannot read it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from aiohttp import web

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TOKEN_COOKIE = "sam3_console_token"
TOKEN_REFUSAL = (
    "403: this console asks for its access token. Open the address that `sam3ctl console` printed when it "
    "started (it ends in ?token=...); the browser keeps the token as a cookie from then on."
)


@dataclass(frozen=True)
class Access:
    token: str | None  # None: bound to loopback, no token

    @classmethod
    def for_host(cls, host: str) -> Access:
        return cls(None if host in LOOPBACK_HOSTS else secrets.token_urlsafe(24))

    def url_query(self) -> str:
        return "" if self.token is None else f"?token={self.token}"

    def _matches(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.token.encode())

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        if self.token is None:
            if request.url.host not in LOOPBACK_HOSTS:
                raise web.HTTPForbidden(text=f"403: this console serves loopback addresses only, not '{request.host}'")
            return await handler(request)
        # Per port: a browser sends a host's cookies to all its ports, and two consoles must not
        # overwrite each other's token.
        cookie = f"{TOKEN_COOKIE}_{request.url.port}"
        if self._matches(request.query.get("token")):
            # Once: the token goes into a cookie and out of the address bar (and the browser's history).
            response = web.HTTPFound(request.rel_url.without_query_params("token"))
            response.set_cookie(cookie, self.token, httponly=True, samesite="Strict")
            raise response
        if not self._matches(request.cookies.get(cookie)):
            raise web.HTTPForbidden(text=TOKEN_REFUSAL)
        return await handler(request)
