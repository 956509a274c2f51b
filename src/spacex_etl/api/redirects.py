"""Trailing-slash redirects whose `Location` is a path, never a URL built from `Host`.

Starlette's own (`redirect_slashes`) answers `GET /launches/` with an absolute
`Location: http://<Host>/launches`: behind a proxy that forwards a Host without the public port
or scheme, the browser is sent elsewhere. A relative reference is valid in `Location`
(RFC 9110, 10.2.2) and the browser resolves it against the URL it asked for, so the redirect
stays on whatever origin the client used, whatever the proxies in between.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send


def relative_slash_redirects(router: Router) -> None:
    """Replace `router`'s slash redirects by ones with a relative `Location` (same 307)."""
    router.redirect_slashes = False
    not_found = router.default
    router.default = _RedirectOrNotFound(router, not_found)


class _RedirectOrNotFound:
    """What the router runs when no route matched: a redirect to the path with the trailing
    slash toggled if a route matches that one, else the router's own 404."""

    def __init__(self, router: Router, not_found: ASGIApp) -> None:
        self._router = router
        self._not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root, path = scope.get("root_path", ""), scope["path"]
        route_path = path[len(root) :] if root and path.startswith(root) else path
        # "//host" or "/\\host" would be another origin to a browser: never redirect there.
        other_origin = route_path.startswith(("//", "/\\"))
        if scope["type"] == "http" and route_path != "/" and not other_origin:
            toggled = route_path.rstrip("/") if route_path.endswith("/") else route_path + "/"
            other = {**scope, "path": root + toggled}
            if any(route.matches(other)[0] is not Match.NONE for route in self._router.routes):
                query = scope.get("query_string", b"").decode("latin-1")
                location = other["path"] + (f"?{query}" if query else "")
                await RedirectResponse(location, status_code=307)(scope, receive, send)
                return
        await self._not_found(scope, receive, send)
