"""One error shape for every failure: RFC 9457 problem details with per-field errors.

Library errors map to their status codes here, in one table; nothing becomes a 500
unless it is a bug, and even then the body is a problem document with the request id.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

import firestore_verify as fv

__all__ = ["FieldError", "Problem", "RateLimited", "install_problem_handlers", "problem"]

log = logging.getLogger("fsv_api")

MEDIA_TYPE = "application/problem+json"

_STATUS_TITLES = {
    400: "Bad request", 401: "Not signed in", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 415: "Unsupported media type",
    422: "Invalid input", 429: "Too many requests", 500: "Internal error",
    503: "Service unavailable",
}

#: Library errors and the status each one means over HTTP.
_ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (fv.AuthenticationError, 401),
    (fv.PermissionDeniedError, 403),
    (fv.NotFoundError, 404),
    (fv.AlreadyExistsError, 409),
    (fv.ConflictError, 409),
    (fv.InvalidInputError, 422),
    (fv.ConfigurationError, 503),
)


class FieldError(BaseModel):
    """One problem with one input field."""

    #: Where the problem is, e.g. ``body.title`` or ``query.limit``.
    field: str
    #: What is wrong, in words.
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    #: A URI naming the kind of problem (``about:blank`` when the status says it all).
    type: str = "about:blank"
    #: Short summary of the kind of problem.
    title: str
    #: The HTTP status code.
    status: int
    #: What happened this time, in words.
    detail: str | None = None
    #: The request path.
    instance: str | None = None
    #: Per-field problems, for invalid input.
    errors: list[FieldError] = Field(default_factory=list)
    #: The ``X-Request-ID`` of the request, to find it in the logs.
    request_id: str | None = None


class RateLimited(Exception):
    """A rate limit was hit; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit reached; retry in {retry_after} s")
        self.retry_after = retry_after


def problem(request: Request, status: int, detail: str | None = None, *,
            errors: list[FieldError] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    """The problem response for ``status``."""
    body = Problem(
        title=_STATUS_TITLES.get(status, "Error"), status=status, detail=detail,
        instance=request.url.path, errors=errors or [],
        request_id=getattr(request.state, "request_id", None),
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status,
                        media_type=MEDIA_TYPE, headers=headers)


def _field_errors(lines: list[str]) -> list[FieldError]:
    out = []
    for line in lines:
        field, _, message = line.partition(": ")
        out.append(FieldError(field=field, message=message or line))
    return out


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error through :func:`problem`."""

    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [FieldError(field=".".join(str(p) for p in e.get("loc", ())),
                             message=str(e.get("msg", "invalid")))
                  for e in exc.errors()]
        return problem(request, 422, "the request does not match the schema", errors=errors)

    async def http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem(request, exc.status_code, detail,
                       headers=dict(exc.headers) if exc.headers else None)

    async def library(request: Request, exc: Exception) -> JSONResponse:
        status = next((code for kind, code in _ERROR_STATUS if isinstance(exc, kind)), 500)
        errors = _field_errors(exc.errors) if isinstance(exc, fv.InvalidInputError) else []
        if status >= 500:
            log.error("request failed: %s", exc, exc_info=exc)
        return problem(request, status, str(exc), errors=errors)

    async def limited(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RateLimited)
        return problem(request, 429, str(exc), headers={"Retry-After": str(exc.retry_after)})

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return problem(request, 500, "an unexpected error happened; it was logged")

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(HTTPException, http)
    app.add_exception_handler(fv.FirestoreVerifyError, library)
    app.add_exception_handler(RateLimited, limited)
    app.add_exception_handler(Exception, unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries declaring the problem shape for ``statuses``."""
    return {status: {"model": Problem, "content": {MEDIA_TYPE: {}},
                     "description": _STATUS_TITLES.get(status, "Error")}
            for status in statuses}
