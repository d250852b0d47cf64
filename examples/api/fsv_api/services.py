"""The parts every route uses, built once at start-up and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

import firestore_verify as fv
from fsv_api.metrics import ApiMetrics
from fsv_api.ratelimit import RateLimits
from fsv_api.settings import ApiSettings

__all__ = ["Services", "services"]


@dataclass
class Services:
    """The store and what hangs off it, shared by every request of this process."""

    #: The API's settings.
    settings: ApiSettings
    #: The Firestore store (the library's one connection).
    store: fv.Store
    #: Verifies ID tokens and session cookies.
    auth: fv.Authenticator
    #: Admin accounts, Firebase Auth and ``admin_users`` together.
    accounts: fv.AdminAccounts
    #: One Firestore listener per stream for every open SSE connection.
    hub: fv.FanOut
    #: The read-only collection browser.
    browser: fv.CollectionBrowser
    #: The bot's typed runtime settings.
    bot_config: fv.BotConfigRepository
    #: The three rate limits.
    limits: RateLimits
    #: Prometheus metrics.
    metrics: ApiMetrics


def services(request: Request) -> Services:
    """FastAPI dependency: this app's :class:`Services`."""
    found: Services = request.app.state.services
    return found
