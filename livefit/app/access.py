"""Who may use ``livefit serve``: the Host, Origin and token checks in front of every endpoint.

``livefit serve`` runs on the user's own machine, and every web page the user visits can reach
127.0.0.1. Three checks keep other pages, rebound host names and other machines out, in this
order, before any endpoint runs (so a refused request reads no body and takes no session slot):

1. Host (``TrustedHostMiddleware``, 400): only the names the server was started for. A page on
   ``evil.example`` whose DNS name is rebound to 127.0.0.1 sends ``Host: evil.example``.
2. Origin (``AccessMiddleware``, 403): a request that carries an ``Origin`` must come from the
   server's own page (Origin = Host) or an origin named with ``--allow-origin``. Browsers send
   ``Origin`` on every WebSocket handshake and every cross-site POST, which need no CORS
   preflight; ``Origin: null`` (sandboxed frames, ``file://``) is refused. Clients that are not
   browsers (curl, Python) send none and pass.
3. Token (``AccessMiddleware``, 401): when the policy has one (always, beyond loopback), as
   ``Authorization: Bearer T``, ``?token=T`` or the ``livefit_token`` cookie that the page's
   URL ``/?token=T`` sets, so the page's own WebSocket and fetches carry it unchanged.

Where it sits: ``livefit.app.server.create_app`` calls ``protect`` on the app it builds;
``livefit.app.serve_cli`` derives the policy from ``--host``, ``--allow-host``,
``--allow-origin`` and ``--token``. docs/serve.md ("Security model") says what is not protected.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("livefit.serve")

COOKIE = "livefit_token"
# The Host names of this machine's loopback interface, as a browser on it writes them.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# URL-safe characters only (what ``secrets.token_urlsafe`` makes): a token goes into a query
# string and a cookie unescaped, and one with ';' or spaces would be cut short there.
_TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]+")
# A host name or IPv4 address, a bracketed IPv6 address, or a '*.' wildcard: no port, no path.
_HOST_RE = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\]|\*")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine (127.0.0.0/8, ::1, localhost)."""
    ip = _ip(host)
    return host.lower() == "localhost" if ip is None else ip.is_loopback


def host_name(value: str, option: str = "--allow-host") -> str:
    """``value`` as a Host header names it (lower case, IPv6 in brackets, no port); a
    ``ValueError`` naming ``option`` when it is not a host name."""
    name = value.strip().lower()
    ip = _ip(name)
    if ip is not None:
        return f"[{ip}]" if ip.version == 6 else str(ip)
    if not _HOST_RE.fullmatch(name):
        raise ValueError(
            f"{option} {value!r} is not a host name (like mybox.local or 192.168.1.20, no port)"
        )
    return name


def origin_of(url: str) -> str | None:
    """``scheme://host:port`` of an http(s) origin (lower case, the port always written, so
    ``http://a`` and ``http://a:80`` compare equal), or None when ``url`` is not one (``null``,
    another scheme, a path, user info)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    host = parts.hostname  # lower case, IPv6 without its brackets
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}"


@dataclass(frozen=True)
class AccessPolicy:
    """Who may use the server: the Host names it answers, the foreign pages it serves, the
    token it asks for. ``for_bind`` derives the default from the address it listens on."""

    hosts: tuple[str, ...] = LOOPBACK_HOSTS
    """Host header names accepted (any port), as ``host_name`` writes them; ``"*"``: any name
    (a wildcard bind, where the token is the guard), ``"*.example.com"``: its subdomains."""
    origins: tuple[str, ...] = ()
    """Foreign origins (``origin_of``) whose pages may use the server besides its own page."""
    token: str | None = None
    """The secret every request must carry (header, query or cookie), or None: none asked."""

    def __post_init__(self) -> None:
        for host in self.hosts:
            host_name(host, "allowed host")
        for origin in self.origins:
            if origin_of(origin) != origin:
                raise ValueError(f"allowed origin {origin!r} is not written as origin_of does")
        if self.token is not None and not _TOKEN_RE.fullmatch(self.token):
            raise ValueError(
                "--token (or LIVEFIT_SERVE_TOKEN) may only hold letters, digits and - _ . ~ "
                "(it goes into URLs and a cookie as it is)"
            )

    @classmethod
    def for_bind(
        cls,
        host: str,
        *,
        allow_hosts: Iterable[str] = (),
        allow_origins: Iterable[str] = (),
        token: str | None = None,
    ) -> AccessPolicy:
        """The policy of a server listening on ``host``: on loopback, the loopback names, and a
        token only if one is given; on every interface (0.0.0.0, ::), any Host name unless
        ``allow_hosts`` names some; on a named address, that name. Beyond loopback a token is
        always required: ``secrets.token_urlsafe`` makes one when none is given. A
        ``ValueError`` names the option that is wrong."""
        extra = [host_name(h) for h in allow_hosts]
        origins = []
        for value in allow_origins:
            origin = origin_of(value)
            if origin is None:
                raise ValueError(
                    f"--allow-origin {value!r} is not an origin (like "
                    "http://mybox.local:8000: scheme, host, port, no path)"
                )
            origins.append(origin)
        ip = _ip(host)
        if is_loopback(host):
            hosts = [*LOOPBACK_HOSTS, host_name(host, "--host")]
        elif ip is not None and ip.is_unspecified:
            # Every interface: the names that reach it (LAN address, mDNS name) are not known
            # here, so any name is accepted and the token keeps rebound pages out.
            hosts = [*LOOPBACK_HOSTS] if extra else ["*"]
        else:
            hosts = [host_name(host, "--host")]
        if token is None and not is_loopback(host):
            token = secrets.token_urlsafe(24)
        return cls(tuple(dict.fromkeys(hosts + extra)), tuple(dict.fromkeys(origins)), token)

    def same_origin(self, origin: str, host: str | None) -> bool:
        """Whether the page at ``origin`` is this server's own, reached as ``host`` (the Host
        header). The scheme is the origin's: behind a TLS proxy the page is https while this
        server speaks http."""
        theirs = origin_of(origin)
        if theirs is None or host is None:
            return False
        return theirs == origin_of(f"{theirs.split(':', 1)[0]}://{host}")

    def origin_allowed(self, origin: str, host: str | None) -> bool:
        """Whether a request with this ``Origin`` (and ``Host``) header may go on."""
        return self.same_origin(origin, host) or origin_of(origin) in self.origins

    def token_matches(self, given: str) -> bool:
        """Whether ``given`` is the token (False when the policy has none)."""
        if self.token is None:
            return False
        # Constant time: the comparison must not tell a guesser how many characters matched.
        return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), self.token.encode())


class AccessMiddleware:
    """Pure ASGI (http and websocket scopes alike): the Origin and token checks of an
    ``AccessPolicy``. A refused WebSocket handshake is answered with an HTTP 403 / 401 (the
    ASGI denial response) or, where the server lacks that extension, a close before accept,
    which servers also send as 403."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # No path is exempt, /static/ included: the files hold no secrets, but every exemption
        # is one more path rule to get wrong, and the page that loads them has set the cookie.
        conn = HTTPConnection(scope)
        origin = conn.headers.get("origin")
        if origin is not None and not self.policy.origin_allowed(origin, conn.headers.get("host")):
            message = (
                f"requests from other web pages are refused (Origin {origin!r}); "
                "livefit serve --allow-origin names pages that may use it"
            )
            await self._refuse(scope, receive, send, 403, message)
            return
        if self.policy.token is not None:
            query = conn.query_params.getlist("token")
            scheme, _, bearer = conn.headers.get("authorization", "").partition(" ")
            given = [
                *query,
                conn.cookies.get(COOKIE, ""),
                bearer if scheme.lower() == "bearer" else "",
            ]
            if not any(self.policy.token_matches(t) for t in given):
                message = (
                    "this server needs its access token: open the URL livefit serve printed "
                    "(it ends in ?token=...) or send 'Authorization: Bearer TOKEN'"
                )
                await self._refuse(scope, receive, send, 401, message)
                return
            # The page's URL (``/?token=``) sets the cookie: its own requests then carry it.
            page = scope["type"] == "http" and scope["path"] == "/"
            if page and any(self.policy.token_matches(t) for t in query):
                send = self._with_cookie(send)
        await self.app(scope, receive, send)

    def _with_cookie(self, send: Send) -> Send:
        """``send`` that adds the token cookie to the response: the page's WebSocket and
        fetches then carry the token with no change to the page's code. HttpOnly: no script
        reads it; SameSite=Strict: other sites' requests do not carry it."""
        cookie = f"{COOKIE}={self.policy.token}; Path=/; HttpOnly; SameSite=Strict"

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
                message = {**message, "headers": headers}
            await send(message)

        return with_cookie

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, message: str
    ) -> None:
        client = scope.get("client")
        log.warning(
            "access refused",
            extra={
                "fields": {
                    "client": f"{client[0]}:{client[1]}" if client else "unknown",
                    "status": status,
                    "path": scope.get("path"),
                    "error": message,
                }
            },
        )
        # Close the connection after the answer: kept alive, the server would still read (and
        # throw away) a refused upload's whole body before the next request could come.
        headers = {"connection": "close"}
        if status == 401:
            headers["www-authenticate"] = "Bearer"
        response = JSONResponse({"type": "error", "message": message}, status, headers)
        if scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
            await response(scope, receive, send)  # Starlette sends it as a denial response
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})


def protect(app: Any, policy: AccessPolicy) -> None:
    """Install ``policy`` on a Starlette / FastAPI ``app``: the Host check outermost (a
    rebound name gets nothing, not even the Origin verdict), then Origin and token."""
    app.add_middleware(AccessMiddleware, policy=policy)
    # Starlette's own Host check: it parses the header strictly and answers a WebSocket
    # handshake with a denial response (uvicorn's three WebSocket back ends all support it).
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(policy.hosts), www_redirect=False)


__all__ = [
    "COOKIE",
    "LOOPBACK_HOSTS",
    "AccessMiddleware",
    "AccessPolicy",
    "host_name",
    "is_loopback",
    "origin_of",
    "protect",
]
