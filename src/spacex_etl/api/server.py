"""uvicorn as the API's server, with only the bounds uvicorn documents.

Hostile clients (huge or slow headers and bodies, connection floods, request rates) are the
edge's job: nginx (deploy/nginx) is the one thing that faces them. Anything reachable from
elsewhere goes behind it; `make run` binds loopback.
"""

from __future__ import annotations

import socket

import uvicorn
from starlette.types import ASGIApp

from spacex_etl.settings import Settings


def server_config(app: ASGIApp, settings: Settings, *, port: int) -> uvicorn.Config:
    """uvicorn on uvloop + httptools (named, so a missing wheel fails loudly)."""
    return uvicorn.Config(
        app,
        host=settings.api_host,
        port=port,
        loop="uvloop",
        http="httptools",
        timeout_keep_alive=settings.api_keep_alive_seconds,
        limit_concurrency=settings.api_limit_concurrency or None,
        # X-Forwarded-For / -Proto are believed only from TRUSTED_PROXIES; with none, not at all.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies,
        server_header=False,
        access_log=False,  # the app logs each request itself, with its request id
        log_config=None,  # uvicorn's loggers go through the app's logging set-up
        log_level=settings.log_level.lower(),
    )


def serve(app: ASGIApp, settings: Settings, sock: socket.socket) -> None:
    """Serve `app` on `sock` (bound to API_HOST:API_PORT) until SIGTERM / Ctrl-C."""
    uvicorn.Server(server_config(app, settings, port=sock.getsockname()[1])).run(sockets=[sock])
