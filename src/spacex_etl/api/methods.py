"""405 answers that list every method of the path, not only the first route's.

FastAPI makes one route per method, and Starlette answers a wrong method with the `Allow` of
the first route whose path matched: `/etl/runs` (GET: history, POST: trigger, two routers)
would say `Allow: POST` to a DELETE. This handler lists the methods of every route on the path.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match, Route


async def _with_full_allow(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        methods = {
            method
            for route in request.app.router.routes
            if isinstance(route, Route) and route.methods
            and route.matches(request.scope)[0] is not Match.NONE
            for method in route.methods
        }  # fmt: skip
        error.headers = {**(error.headers or {}), "Allow": ", ".join(sorted(methods))}
    return await http_exception_handler(request, error)


def install_method_not_allowed(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _with_full_allow)
