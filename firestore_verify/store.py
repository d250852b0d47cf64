"""`connect()` and `Store`: the one way into firestore-verify.

A `Store` carries a Firestore client, a database id and an optional
collection prefix; every repository hangs off it. Nothing is global: two stores
(two projects, two databases or two prefixes) never see each other's data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from google.cloud import firestore

from firestore_verify.calls import CallPolicy
from firestore_verify.config import ConnectionSettings, resolve_settings
from firestore_verify.errors import ConfigurationError

if TYPE_CHECKING:
    from firestore_verify.analytics import Analytics
    from firestore_verify.browser import CollectionBrowser
    from firestore_verify.repositories import (
        AdminRepository,
        AuditRepository,
        ChannelRepository,
        ConfigRepository,
        GroupRepository,
        OwnerRepository,
    )
    from firestore_verify.repositories.bot_config import BotConfigRepository
    from firestore_verify.repositories.stats import StatsRepository
    from firestore_verify.repositories.verifications import VerificationRepository

__all__ = ["Store", "connect"]

_CLOSE_GRACE_SECONDS = 1.0
"""How long close() lets calls in flight finish before cancelling them."""


def _google_credentials(settings: ConnectionSettings) -> Any:
    if settings.emulator_host is not None:
        from google.auth.credentials import AnonymousCredentials

        anonymous: Any = AnonymousCredentials  # untyped in google-auth
        return anonymous()
    from firebase_admin import credentials as fb_credentials

    try:
        if settings.service_account is not None:
            return fb_credentials.Certificate(dict(settings.service_account)).get_credential()
        return fb_credentials.ApplicationDefault().get_credential()
    except Exception as exc:  # google-auth raises many unrelated types here
        what = "service-account key" if settings.service_account else "default credentials"
        raise ConfigurationError(
            f"could not load Google {what} ({type(exc).__name__}: {exc}). Set "
            "FIREBASE_CLIENT_EMAIL and FIREBASE_PRIVATE_KEY, pass credentials_file=, set "
            "GOOGLE_APPLICATION_CREDENTIALS, or set FIRESTORE_EMULATOR_HOST for the emulator."
        ) from None


class Store:
    """A connection to one Firestore database, with the repositories on it.

    Build it with `connect()`. Use it as an async context manager, or call
    `close()` when done.
    """

    def __init__(self, settings: ConnectionSettings, *, prefix: str = "",
                 calls: CallPolicy | None = None) -> None:
        if prefix and ("/" in prefix or prefix.startswith("__")):
            raise ConfigurationError(
                f"collection prefix {prefix!r} may not contain '/' nor start with '__': "
                "use letters, digits, '-' or '_' (e.g. 'staging_')."
            )
        self.settings = settings
        self.prefix = prefix
        """Prepended to every collection name, so several apps can share a database."""
        self.calls = calls or CallPolicy(host=settings.emulator_host)
        """Deadlines and retries of every call the library makes on this store."""
        self._credentials = _google_credentials(settings)
        self.client: firestore.AsyncClient = self._make_client(firestore.AsyncClient)
        """The google-cloud-firestore async client every repository uses."""
        self._sync_client: firestore.Client | None = None

    def _make_client(self, cls: Any) -> Any:
        client = cls(
            project=self.settings.project,
            credentials=self._credentials,
            database=self.settings.database,
        )
        # The client reads FIRESTORE_EMULATOR_HOST itself; an emulator host given
        # to connect() must reach it without touching the process environment.
        client._emulator_host = self.settings.emulator_host
        return client

    @property
    def project(self) -> str:
        """The Google Cloud project id."""
        return self.settings.project

    @property
    def database(self) -> str:
        """The Firestore database id, ``(default)`` unless a named database was asked for."""
        return self.settings.database

    @property
    def sync_client(self) -> firestore.Client:
        """A synchronous client, used only for ``on_snapshot`` listeners (live streams)."""
        if self._sync_client is None:
            self._sync_client = self._make_client(firestore.Client)
        return self._sync_client

    def collection_name(self, name: str) -> str:
        """The real name of collection ``name`` in this store (with the prefix)."""
        return f"{self.prefix}{name}"

    def collection(self, name: str) -> firestore.AsyncCollectionReference:
        """The async reference of collection ``name`` (prefix applied)."""
        return self.client.collection(self.collection_name(name))

    @cached_property
    def owners(self) -> OwnerRepository:
        """Group owners (``owners``)."""
        from firestore_verify.repositories import OwnerRepository

        return OwnerRepository(self)

    @cached_property
    def groups(self) -> GroupRepository:
        """Protected groups (``protected_groups``) and the protect/link operations."""
        from firestore_verify.repositories import GroupRepository

        return GroupRepository(self)

    @cached_property
    def channels(self) -> ChannelRepository:
        """Enforced channels (``enforced_channels``)."""
        from firestore_verify.repositories import ChannelRepository

        return ChannelRepository(self)

    @cached_property
    def admins(self) -> AdminRepository:
        """Dashboard users (``admin_users``)."""
        from firestore_verify.repositories import AdminRepository

        return AdminRepository(self)

    @cached_property
    def audit(self) -> AuditRepository:
        """The admin audit trail (``admin_audit_log``)."""
        from firestore_verify.repositories import AuditRepository

        return AuditRepository(self)

    @cached_property
    def config(self) -> ConfigRepository:
        """Runtime configuration entries (``admin_config``)."""
        from firestore_verify.repositories import ConfigRepository

        return ConfigRepository(self)

    @cached_property
    def stats(self) -> StatsRepository:
        """Dashboard totals (``_metadata/stats`` and its shards)."""
        from firestore_verify.repositories.stats import StatsRepository

        return StatsRepository(self)

    @cached_property
    def verifications(self) -> VerificationRepository:
        """Verification events (``verifications``) and the batching logger."""
        from firestore_verify.repositories.verifications import VerificationRepository

        return VerificationRepository(self)

    @cached_property
    def analytics(self) -> Analytics:
        """Period summaries, trends, growth and the activity feed, from rollups."""
        from firestore_verify.analytics import Analytics

        return Analytics(self)

    @cached_property
    def bot_config(self) -> BotConfigRepository:
        """The bot's typed runtime settings (in ``admin_config``): schema, masked reads, watch."""
        from firestore_verify.repositories.bot_config import BotConfigRepository

        return BotConfigRepository(self)

    @cached_property
    def browser(self) -> CollectionBrowser:
        """The read-only collection browser over this store's collections."""
        from firestore_verify.browser import CollectionBrowser

        return CollectionBrowser(self)

    async def ping(self, *, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - typed error
        """Check that Firestore answers: one small read, bounded by ``timeout`` seconds.

        Raises:
            UnavailableError: nothing answered in time; the message names the host
                and what to check.

        """
        policy = CallPolicy(timeout=timeout, attempt_timeout=timeout,
                            initial_backoff=self.calls.initial_backoff,
                            max_backoff=self.calls.max_backoff, host=self.calls.host)
        with policy.translate(), anyio.fail_after(timeout + 1):
            await self.collection("_metadata").document("stats").get(**policy.options)

    async def close(self) -> None:
        """Close the clients' channels. The store cannot be used afterwards."""
        # Client.close() only closes an HTTP session; the gRPC channel (bound to the
        # running event loop for the async client) must be closed through its transport.
        # With a grace period, calls still finishing (a stream's final status) complete
        # on this loop; cancelled ones would complete later on a loop that may be closed
        # by then, and grpc would fail the next loop with "Event loop is closed".
        clients: list[Any] = [self.client]
        transport = getattr(self.client, "_transport", None)
        if transport is not None:
            await transport.grpc_channel.close(grace=_CLOSE_GRACE_SECONDS)
        if self._sync_client is not None:
            sync_transport = getattr(self._sync_client, "_transport", None)
            if sync_transport is not None:
                sync_transport.close()
            clients.append(self._sync_client)
        for client in clients:
            client.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        host = self.settings.emulator_host
        target = f"emulator {host}" if host else "cloud"
        return (
            f"Store(project={self.project!r}, database={self.database!r}, "
            f"prefix={self.prefix!r}, {target})"
        )


async def connect(
    project: str | None = None,
    *,
    database: str = "(default)",
    prefix: str = "",
    credentials_file: str | os.PathLike[str] | None = None,
    emulator_host: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,  # noqa: ASYNC109 - every call's deadline, not connect's
    attempt_timeout: float = 10.0,
    check: bool = False,
) -> Store:
    """Connect to Firestore and return a `Store`.

    Against the emulator when ``emulator_host`` or ``FIRESTORE_EMULATOR_HOST``
    is set (anonymous credentials, no key needed). Otherwise with, in order:
    ``credentials_file``, the ``FIREBASE_CLIENT_EMAIL`` / ``FIREBASE_PRIVATE_KEY``
    pair, ``GOOGLE_APPLICATION_CREDENTIALS``, or application default credentials.
    The project comes from ``project``, ``FIREBASE_PROJECT_ID`` or the key.

    Args:
        project: Google Cloud / Firebase project id.
        database: Firestore database id.
        prefix: Prepended to every collection name (isolates apps sharing a database).
        credentials_file: Path to a service-account JSON key.
        emulator_host: ``HOST:PORT`` of a Firestore emulator.
        env: Environment to read instead of ``os.environ`` (for tests and tools).
        timeout: Longest any one call to Firestore may take, retries included,
            in seconds; past it the call raises `UnavailableError`.
        attempt_timeout: Longest one attempt may take before it is retried.
        check: Read one document before returning (`Store.ping()`), so an
            unreachable Firestore fails here, within seconds.

    Raises:
        ConfigurationError: when configuration is missing or contradictory; the
            message says what to set.
        UnavailableError: with ``check=True``, when Firestore did not answer.
    """
    settings = resolve_settings(
        project=project,
        database=database,
        credentials_file=credentials_file,
        emulator_host=emulator_host,
        env=env,
    )
    calls = CallPolicy(timeout=timeout, attempt_timeout=attempt_timeout,
                       host=settings.emulator_host)
    store = Store(settings, prefix=prefix, calls=calls)
    if check:
        try:
            await store.ping(timeout=min(timeout, 5.0))
        except BaseException:
            await store.close()
            raise
    return store
