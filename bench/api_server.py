"""The admin API (``examples/api``) for benchmarks 6 and 7: an admin, groups, a real uvicorn.

The API is served by uvicorn on ``127.0.0.1`` in the bench's own event loop (as
``examples/api/tests/test_streams.py`` does), so the bench can read its fan-out
(``app.state.services.hub``). Its clients are httpx clients in that same loop:
every API latency includes the client's own work, which only flatters the
baselines.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import uvicorn
from fastapi import FastAPI
from fsv_api import ApiSettings, create_app

import firestore_verify as fv
from bench.harness import Stopwatch, progress
from bench.workload import Workload
from firestore_verify.testing import AuthEmulator

PASSWORD = "bench horse battery staple"
#: Limits so high that they never answer 429 during a benchmark.
SETTINGS = ApiSettings(cookie_secure=False, read_rate="1000000/minute",
                       write_rate="1000000/minute", signin_rate="1000000/minute")
_FIRST_GROUP = Workload().group_id(0)
_FIRST_CHANNEL = -1_002_900_000_000


@dataclass
class Api:
    """A served app: where it answers, the app itself, and a bearer token of an admin."""

    base_url: str
    app: FastAPI
    headers: dict[str, str]

    @property
    def hub(self) -> fv.FanOut:
        """The fan-out behind the API's SSE streams."""
        found: fv.FanOut = self.app.state.services.hub
        return found


class BackgroundAuthEmulator:
    """The Auth emulator at ``host``, or ours started in a thread (stopped on exit).

    Started while the Firestore emulator starts (firebase-tools takes seconds to
    boot), before anything is measured. ``host()`` waits for it: ``None`` when
    it cannot run here (firebase-tools or Node.js missing...), with the reason
    on stderr, and benchmarks 6-10 are skipped.
    """

    def __init__(self, host: str | None = None) -> None:
        self._host = host
        self._emulator: AuthEmulator | None = None
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._start, name="bench-auth-emulator",
                                        daemon=True)

    def _start(self) -> None:
        try:
            emulator = AuthEmulator()
            self._emulator = emulator
            emulator.start()
        except Exception as exc:  # reported by host()
            self._error = exc

    def __enter__(self) -> BackgroundAuthEmulator:
        if self._host is None:
            self._thread.start()
        return self

    def host(self) -> str | None:
        """``HOST:PORT`` of the running Auth emulator, once it answers (``None``: none)."""
        if self._host is not None:
            return AuthEmulator.attach(self._host).host
        self._thread.join()
        if self._error is not None or self._emulator is None:
            progress(f"no Auth emulator, so no benchmarks 6-10: {self._error}")
            return None
        return self._emulator.host

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self._thread.join()
        if self._emulator is not None:
            self._emulator.stop()


async def admin_headers(auth: AuthEmulator, store: fv.Store) -> dict[str, str]:
    """Sign a viewer up on the Auth emulator, make it an admin: its ``Authorization`` header."""
    email = "bench-viewer@example.org"
    uid, token = await anyio.to_thread.run_sync(auth.sign_up, store.project, email, PASSWORD)
    await store.admins.create(fv.AdminUser(uid=uid, email=email, role=fv.Role.VIEWER))
    return {"Authorization": f"Bearer {token}"}


async def protect_groups(store: fv.Store, n: int, concurrency: int = 4) -> None:
    """Protect ``n`` groups (the workload's own among them), one channel each."""
    limiter = anyio.CapacityLimiter(concurrency)

    async def protect(index: int) -> None:
        async with limiter:
            await store.groups.protect(
                fv.GroupInfo(id=_FIRST_GROUP - index, title=f"Group {n - index:05d}",
                             member_count=100 + index),
                fv.OwnerInfo(id=400_000_000 + index),
                [fv.ChannelInfo(id=_FIRST_CHANNEL - index * 2, title=f"Channel {index}")])

    with Stopwatch() as sw:
        async with anyio.create_task_group() as tasks:
            for index in range(n):
                tasks.start_soon(protect, index)
    progress(f"  {n:,} groups protected in {sw.seconds:.1f} s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def served(store: fv.Store, authenticator: fv.Authenticator,
                 headers: dict[str, str]) -> AsyncIterator[Api]:
    """A fresh app (its own fan-out) on a real uvicorn on 127.0.0.1, until the block ends."""
    app = create_app(SETTINGS, store=store, authenticator=authenticator)
    async with serving(app) as base_url:
        yield Api(base_url, app, headers)


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` on a real uvicorn on 127.0.0.1 in this event loop: its base URL, meanwhile."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                           log_level="warning", access_log=False,
                                           backlog=512))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve)
        with anyio.fail_after(20):
            while not server.started:  # noqa: ASYNC110 (uvicorn has no event for it)
                await anyio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
