"""405 answers that list every method of the path, not only one route's.

FastAPI makes one route per method, and a wrong method is answered with the `Allow` of the
first route whose path matched: `/etl/runs` (GET: history, POST: trigger, on two routers)
would say `Allow: POST` to a DELETE. This handler lists the methods the app's OpenAPI
documents for the path.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import compile_path


def _methods_by_path(app: FastAPI) -> list[tuple[re.Pattern[str], set[str]]]:
    table = []
    for template, operations in app.openapi()["paths"].items():
        methods = {method.upper() for method in operations}
        if "GET" in methods:
            methods.add("HEAD")  # `HeadAsGet` answers HEAD wherever GET works
        table.append((compile_path(template)[0], methods))
    return table


async def _with_full_allow(request: Request, error: Exception) -> Response:
    if not isinstance(error, HTTPException):  # registered for HTTPException only
        raise error
    if error.status_code == 405:
        app: FastAPI = request.app
        if not hasattr(app.state, "methods_by_path"):
            app.state.methods_by_path = _methods_by_path(app)
        path = request.url.path
        allowed = {
            m for regex, methods in app.state.methods_by_path if regex.match(path) for m in methods
        }
        if allowed:
            error.headers = {**(error.headers or {}), "Allow": ", ".join(sorted(allowed))}
    return await http_exception_handler(request, error)


def install_method_not_allowed(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _with_full_allow)
