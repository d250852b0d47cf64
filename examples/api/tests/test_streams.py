"""Server-Sent Events through a real uvicorn on 127.0.0.1: pushed changes, shared listeners."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from conftest import World, settings
from fsv_api import create_app

import firestore_verify as fv

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listener_threads() -> int:
    return sum(1 for t in threading.enumerate() if "ConsumeBidirectionalStream" in t.name)


@asynccontextmanager
async def served(admin_store: fv.Store, authenticator: fv.Authenticator
                 ) -> AsyncIterator[tuple[str, Any]]:
    """The API on a real uvicorn (same event loop as the test); yields (base URL, app)."""
    app = create_app(settings(), store=admin_store, authenticator=authenticator)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                           log_level="warning"))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve)
        with anyio.fail_after(20):
            while not server.started:
                await anyio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}", app
        finally:
            server.should_exit = True


class Events:
    """Reads named events off one open SSE response, keeping the latest value of each."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()
        #: The latest value of every event name seen so far.
        self.latest: dict[str, Any] = {}

    async def next(self) -> tuple[str, Any]:
        name, data = "message", ""
        async for line in self.lines:
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif line == "" and data:
                self.latest[name] = json.loads(data)
                return name, self.latest[name]
        raise AssertionError("the stream ended")

    async def until(self, check: Any, what: str, within: float = 10) -> dict[str, Any]:
        """Read until ``check(latest)`` holds; the latest values then."""
        try:
            with anyio.fail_after(within):
                while not check(self.latest):
                    await self.next()
        except TimeoutError:
            raise AssertionError(f"no {what} within {within} s; latest: {self.latest}") from None
        return self.latest


async def test_a_change_reaches_an_open_stream(admin_store: fv.Store,
                                               authenticator: fv.Authenticator,
                                               world: World) -> None:
    async with served(admin_store, authenticator) as (base, _), httpx.AsyncClient(
            base_url=base, timeout=30) as http, http.stream(
            "GET", "/api/v1/stream/dashboard", headers=world.headers("viewer")) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = Events(response)
        first = await events.until(lambda got: {"stats", "activity"} <= set(got), "first state")
        assert first["stats"]["total_verifications"] == 0  # current state first
        assert first["activity"] == []
        now = datetime.now(timezone.utc)
        event = fv.Verification(user_id=7, group_id=-1001, status=fv.Status.FAILED,
                                occurred_at=max(now, now.replace(hour=0, minute=0)))
        await admin_store.verifications.write_many([event])
        # Counters, today's rollup and the feed are separate listeners: wait for all three.
        got = await events.until(
            lambda got: got["stats"]["total_verifications"] == 1
            and got["stats"]["today"]["total"] == 1 and bool(got["activity"]),
            "stats and activity with the new event")
        assert got["stats"]["today"]["failed"] == 1
        assert got["activity"][0]["id"] == event.id


async def test_a_viewer_gets_no_config_stream(admin_store: fv.Store,
                                              authenticator: fv.Authenticator,
                                              world: World) -> None:
    async with served(admin_store, authenticator) as (base, _), httpx.AsyncClient(
            base_url=base, timeout=30) as http:
        refused = await http.get("/api/v1/stream/config", headers=world.headers("viewer"))
        assert refused.status_code == 403
        nobody = await http.get("/api/v1/stream/dashboard")
        assert nobody.status_code == 401


async def test_fifty_streams_share_the_listeners(admin_store: fv.Store,
                                                 authenticator: fv.Authenticator,
                                                 world: World) -> None:
    before = listener_threads()
    async with served(admin_store, authenticator) as (base, app), httpx.AsyncClient(
            base_url=base, timeout=60,
            limits=httpx.Limits(max_connections=60)) as http:
        hub: fv.FanOut = app.state.services.hub
        opened = anyio.Event()
        ready: list[int] = []
        counts: dict[int, int] = {}

        async def browser(index: int) -> None:
            async with http.stream("GET", "/api/v1/stream/dashboard",
                                   headers=world.headers("viewer")) as response:
                events = Events(response)
                await events.until(lambda got: "stats" in got, "first stats")
                ready.append(index)
                if len(ready) == 50:
                    opened.set()
                got = await events.until(
                    lambda got: got["stats"]["total_verifications"] == 1, "pushed stats")
                counts[index] = got["stats"]["total_verifications"]

        async with anyio.create_task_group() as tasks:
            for index in range(50):
                tasks.start_soon(browser, index)
            with anyio.fail_after(60):
                await opened.wait()
            one_page_listeners = hub.streams
            assert one_page_listeners == 2  # the overview and the activity feed, shared by 50
            assert hub.subscribers() == 100
            assert listener_threads() - before <= 2 * 3  # overview: 3 sources; feed: 1
            await admin_store.verifications.write_many([fv.Verification(
                user_id=8, group_id=-1001, status=fv.Status.SUCCESS)])
        assert counts == dict.fromkeys(range(50), 1)
