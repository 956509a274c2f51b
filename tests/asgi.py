"""An HTTP client on an app in this process (no server), from a chosen client address."""

from __future__ import annotations

import httpx
from starlette.types import ASGIApp


def asgi_client(app: ASGIApp, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://api")
