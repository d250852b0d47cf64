"""Strict CORS, and rate limits shared between API processes through a real Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from conftest import settings
from fsv_api import create_app

import firestore_verify as fv

pytestmark = pytest.mark.anyio


async def test_cors_allows_only_the_listed_origins(admin_store: fv.Store,
                                                   authenticator: fv.Authenticator) -> None:
    app = create_app(settings(cors_origins=["https://admin.example.org"]), store=admin_store,
                     authenticator=authenticator)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        preflight = {"Access-Control-Request-Method": "PATCH",
                     "Access-Control-Request-Headers": "x-csrf-token"}
        allowed = await client.options("/api/v1/groups/-1001", headers={
            "Origin": "https://admin.example.org", **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://admin.example.org"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        refused = await client.options("/api/v1/groups/-1001", headers={
            "Origin": "https://evil.example.com", **preflight})
        assert "access-control-allow-origin" not in refused.headers
        simple = await client.get("/health", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in simple.headers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A throwaway redis-server on a free port (Debian's package), stopped afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (make test installs Debian's package)")
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            client = redis.Redis(port=port)
            for _ in range(200):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    assert server.poll() is None, "redis-server exited at start"
                    time.sleep(0.025)
            else:
                pytest.fail("redis-server never answered PING")
            yield f"redis://127.0.0.1:{port}/0", server
        finally:
            server.terminate()
            server.wait(10)


async def test_two_processes_share_their_limits_on_redis(admin_store: fv.Store,
                                                         authenticator: fv.Authenticator,
                                                         redis_server: tuple[str, Any]) -> None:
    url, server = redis_server
    shared = settings(redis_url=url, signin_rate="3/15minutes")
    apps = [create_app(shared, store=admin_store, authenticator=authenticator)
            for _ in range(2)]
    async with apps[0].router.lifespan_context(apps[0]), \
            apps[1].router.lifespan_context(apps[1]):
        clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a),
                                     base_url="http://testserver") for a in apps]
        codes = []
        for index in range(4):  # alternate between the two "processes"
            response = await clients[index % 2].post("/api/v1/auth/session",
                                                     json={"id_token": "bad"})
            codes.append(response.status_code)
        assert codes == [401, 401, 401, 429]
        # Redis goes away: the limit cannot be checked, so requests go through (no 500).
        server.terminate()
        server.wait(10)
        after = await clients[0].post("/api/v1/auth/session", json={"id_token": "bad"})
        assert after.status_code == 401
        assert apps[0].state.services.limits.storage_errors >= 1
        for client in clients:
            await client.aclose()
