"""ASGI middleware keeping web pages out of a local server: a Host check against DNS rebinding, an Origin
check against cross-site requests, and CORS headers for the origins ``--allow-origin`` names.

A page on evil.example whose name the attacker re-points at 127.0.0.1 is same-origin to the browser, so
the browser lets it read every answer: only the Host header (evil.example) gives it away. Jupyter and
webpack's dev server refuse such a Host; so does this. A page on another origin carries its Origin
header on every fetch that could change anything: refused too, unless the operator named it.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

from .errors import error_response
from .settings import is_ip

LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")
PREFLIGHT_MAX_AGE = "600"


def split_host(value: str) -> str:
    """The name in a Host header or an origin's netloc, without the port, lower case: ``[::1]:80`` -> ``::1``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    name, colon, port = value.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        value = name
    return value.rstrip(".")


def is_loopback(host: str) -> bool:
    name = split_host(host)
    return name == "localhost" or (is_ip(name) and ipaddress.ip_address(name).is_loopback)


def exposure_warning(host: str, api_key: str | None) -> str | None:
    """One line for an address others can reach with no key asked of them; None when that is not the case."""
    if api_key is not None or is_loopback(host):
        return None
    return (f"ponder: warning: listening on {host}, reachable from other machines, with no API key: anyone who "
            "can reach it can use it; set --api-key (or PONDER_API_KEY), or bind 127.0.0.1")


def warn_if_exposed(host: str, api_key: str | None) -> None:
    line = exposure_warning(host, api_key)
    if line:
        print(line, file=sys.stderr, flush=True)


class Guard:
    """Refuse (403) a request whose Host is not this server's, or whose Origin is neither this server's own
    (the playground page) nor one of ``allow_origins``; answer an allowed origin's preflight with CORS headers.

    An IP address in the Host passes, as webpack's dev server lets it: rebinding needs a name the attacker
    owns. Requests without an Origin (curl, SDKs, navigations) are not a page's fetch and pass that check.
    """

    def __init__(self, app, bound: str, allowed_hosts: tuple[str, ...] = (),
                 allow_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        names = {*LOCAL_NAMES, split_host(bound), *allowed_hosts}  # settings made them lower case
        if bound in WILDCARDS:  # every interface: this machine's own name reaches it too
            names.add(socket.gethostname().lower())
        self.any_host, self.any_origin = "*" in names, "*" in allow_origins
        self.names = {n for n in names if not n.startswith(".")}
        self.suffixes = tuple(n for n in names if n.startswith("."))  # ".lan.example": it and its subdomains
        self.origins = set(allow_origins)

    def host_allowed(self, host: str) -> bool:
        name = split_host(host)
        return (self.any_host or is_ip(name) or name in self.names
                or any(name.endswith(s) or name == s[1:] for s in self.suffixes))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        host, origin, path = headers.get("host"), headers.get("origin"), scope.get("path", "")
        if host is not None and not self.host_allowed(host):
            message = (f"Host {split_host(host)!r} is not a name of this server: a guard against DNS rebinding; "
                       "to serve under this name, start it with --allowed-hosts NAME")
            return await refuse(message, "host_not_allowed", path, scope, receive, send)
        if origin is None or same_origin(origin, host):
            return await self.app(scope, receive, send)
        origin = origin.rstrip("/").lower()
        if not (self.any_origin or origin in self.origins):
            message = (f"requests from pages on {origin} are refused: to let one call this server, start it with "
                       "--allow-origin ORIGIN")
            return await refuse(message, "origin_not_allowed", path, scope, receive, send)
        cors = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            return await preflight(cors, headers, send)

        async def with_cors(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, with_cors)


def same_origin(origin: str, host: str | None) -> bool:
    """The page this server serves (the playground) calling it: the Origin's host and port are the Host's.
    The scheme is not compared, so a TLS proxy in front (https page, http here) still counts as the same."""
    _, sep, netloc = origin.partition("://")
    return bool(sep) and host is not None and netloc.rstrip("/").lower() == host.strip().lower()


async def preflight(cors: list, headers: dict, send) -> None:
    """The browser asking whether it may send a JSON POST with an API key: yes, for an allowed origin."""
    asked = headers.get("access-control-request-headers", "")
    answer = [*cors, (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
              (b"access-control-allow-headers", asked.encode("latin-1")),
              (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode()), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 204, "headers": answer})
    await send({"type": "http.response.body", "body": b""})


async def refuse(message: str, code: str, path: str, scope, receive, send) -> None:
    await error_response(403, message, code=code, path=path)(scope, receive, send)
