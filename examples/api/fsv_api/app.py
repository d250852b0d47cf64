"""``create_app()``: the FastAPI app, its lifespan (store, auth, fan-out) and its routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import firestore_verify as fv
from fsv_api.metrics import ApiMetrics
from fsv_api.middleware import RequestContext
from fsv_api.problems import install_problem_handlers
from fsv_api.ratelimit import RateLimits
from fsv_api.routes import (
    admins,
    analytics,
    auth,
    channels,
    config,
    dashboard,
    database,
    groups,
    logs,
    ops,
    streams,
)
from fsv_api.services import Services
from fsv_api.settings import ApiSettings

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"
_ROUTERS = (auth, dashboard, groups, channels, config, database, logs, analytics, admins,
            streams)


def create_app(
    settings: ApiSettings | None = None,
    *,
    store: fv.Store | None = None,
    authenticator: fv.Authenticator | None = None,
) -> FastAPI:
    """The admin API. Without ``store`` / ``authenticator`` it connects at start-up.

    A store or authenticator passed in is used as is and left open at shutdown
    (tests share them); the ones the app makes itself it closes.
    """
    settings = settings or ApiSettings.from_env()
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with fv.admin_backend(store=store, authenticator=authenticator,
                                    database=settings.database,
                                    prefix=settings.collection_prefix) as backend:
            hub = backend.hub
            metrics.watch(lambda: hub.streams)
            app.state.services = Services(
                settings=settings, store=backend.store, auth=backend.auth,
                accounts=backend.accounts, hub=hub, browser=backend.store.browser,
                bot_config=backend.store.bot_config, limits=RateLimits(settings),
                metrics=metrics)
            yield

    app = FastAPI(
        title="firestore-verify admin API",
        version=fv.__version__,
        description="Admin API of a force-subscribe bot on Firestore: JSON under /api/v1, "
                    "one Server-Sent Events stream per page. Errors are RFC 9457 problems.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    for module in _ROUTERS:
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(logs.audit_router, prefix=API_PREFIX)
    app.include_router(ops.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"], max_age=600)
    app.add_middleware(RequestContext, metrics=metrics, hsts=settings.cookie_secure)
    return app
