"""The web chat answers only requests addressed to it by a name it knows (DNS rebinding).

A page on evil.example.com can point its own name at 127.0.0.1 and have the visitor's browser
talk to a newsdesk on their machine as if it were evil.example.com. The browser still sends
`Host: evil.example.com`, so a server that answers only to its own names cannot be reached
this way. An IP address in the Host header cannot come from such a page, so it always passes.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOCAL_NAMES = ("localhost",)


def host_names(bind: str, allowed: Iterable[str]) -> frozenset[str]:
    """The names a server bound to `bind` answers to: localhost, this machine's name, the bound
    name, and the ones allowed (`--allowed-host`, NEWSDESK_ALLOWED_HOSTS; '*' allows any)."""
    names = {*LOCAL_NAMES, socket.gethostname(), bind, *allowed}
    return frozenset(_normal(name) for name in names if name.strip())


def _normal(name: str) -> str:
    return name.strip().strip("[]").rstrip(".").lower()


def host_of(header: str) -> str:
    """The host part of a Host header ('[::1]:7860' -> '::1', 'Example.org:80' -> 'example.org')."""
    header = header.strip()
    if header.startswith("["):
        return _normal(header[1:].partition("]")[0])
    if header.count(":") > 1:  # an IPv6 address without brackets (and so without a port)
        return _normal(header)
    return _normal(header.partition(":")[0])


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class KnownHosts:
    """ASGI middleware: a request whose Host header is neither an IP address nor one of `names`
    is refused with 400 and a line saying how to allow it."""

    def __init__(self, app: ASGIApp, names: frozenset[str]) -> None:
        self.app = app
        self.names = names

    def allows(self, header: str | None) -> bool:
        """Whether a request with this Host header is answered."""
        if "*" in self.names:
            return True
        host = host_of(header or "")
        return bool(host) and (host in self.names or _is_address(host))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            header = Headers(scope=scope).get("host")
            if not self.allows(header):
                refusal = PlainTextResponse(
                    f"newsdesk does not answer to the host name {host_of(header or '')!r}; start "
                    "`newsdesk serve` with --allowed-host NAME (or set NEWSDESK_ALLOWED_HOSTS) to "
                    "allow it\n", status_code=400)
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
