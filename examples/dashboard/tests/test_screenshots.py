"""A screenshot of every page with real data, in headless Chromium (the docs' pictures).

The data is recorded through the library on the live server's own project:
groups with their channels, two weeks of verification events, audited admin
actions. Screenshots go to a temporary directory; to refresh the docs' pictures
run::

    FSV_DASHBOARD_SCREENSHOTS=docs/images FIRESTORE_VERIFY_REQUIRE_EMULATOR=1 \\
        .venv/bin/pytest -q examples/dashboard/tests/test_screenshots.py

which writes ``docs/images/dashboard-<page>.png`` (1200 x 800, PNG).
"""

from __future__ import annotations

import os
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from browser import LiveServer, browser, live_server, sign_in, wait_live
from playwright.async_api import Browser, Page, expect

import firestore_verify as fv

__all__ = ["browser", "live_server"]  # fixtures

pytestmark = pytest.mark.anyio

#: Largest PNG allowed, and the largest total (the docs site stays light).
MAX_PNG_BYTES = 300_000
MAX_TOTAL_BYTES = 1_500_000

NEWS = fv.ChannelInfo(id=-1001000000001, title="Crypto News", username="crypto_news")
DEALS = fv.ChannelInfo(id=-1001000000002, title="Daily Deals",
                       invite_link="https://t.me/+dailydeals")
DEVS = fv.ChannelInfo(id=-1001000000003, title="Dev Updates", username="dev_updates")
TRAVEL = fv.ChannelInfo(id=-1001000000004, title="Travel Tips", username="travel_tips")
GROUPS = (
    (fv.GroupInfo(id=-1002000000001, title="Crypto Chat", member_count=1250), (NEWS, DEALS)),
    (fv.GroupInfo(id=-1002000000002, title="Bargain Hunters", member_count=310), (DEALS,)),
    (fv.GroupInfo(id=-1002000000003, title="Python Devs", member_count=87), (DEVS, NEWS)),
    (fv.GroupInfo(id=-1002000000004, title="Backpackers", member_count=542), (TRAVEL,)),
    (fv.GroupInfo(id=-1002000000005, title="Night Owls", member_count=64), (NEWS,)),
)
OWNER = fv.OwnerInfo(id=42, username="alice")


async def seed(server: LiveServer) -> None:
    """Groups, channels, two weeks of events and some audited admin actions."""
    owner = fv.Actor(uid=server.world.uids["owner"], ip_address="203.0.113.7",
                     user_agent="Mozilla/5.0 (docs)")
    admin = fv.Actor(uid=server.world.uids["admin"], ip_address="198.51.100.23",
                     user_agent="Mozilla/5.0 (docs)")
    rng = random.Random(7)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    events: list[fv.Verification] = []
    for hours_ago in range(14 * 24, -1, -1):
        moment = now - timedelta(hours=hours_ago)
        busy = 3 + int(9 * max(0.0, 1 - abs(moment.hour - 15) / 9))
        for _ in range(rng.randint(busy // 2, busy)):
            group, channels = rng.choice(GROUPS)
            roll = rng.random()
            status = (fv.Status.SUCCESS if roll < 0.8 else
                      fv.Status.FAILED if roll < 0.95 else fv.Status.ERROR)
            events.append(fv.Verification(
                user_id=rng.randint(1000, 1600), group_id=group.id,
                channel_id=rng.choice(channels).id, status=status,
                occurred_at=moment - timedelta(minutes=rng.randint(0, 59)),
                latency_ms=round(rng.uniform(20, 300), 1), cached=rng.random() < 0.4,
                error_type="timeout" if status is fv.Status.ERROR else None))
    async with server.store() as store:
        for group, channels in GROUPS:
            await store.groups.protect(group=group, owner=OWNER, channels=channels,
                                       actor=admin)
        await store.verifications.write_many([e for e in events if e.occurred_at <= now])
        await store.groups.unprotect(GROUPS[4][0].id, actor=admin)
        await store.bot_config.update({"cache.negative_ttl": 45.0, "logging.level": "INFO",
                                       "webhook.secret": "docs_secret_value"}, actor=owner)
        await store.bot_config.update({"rate_limits.moderation_per_second": 20.0},
                                      actor=admin)
        await store.admins.create(fv.AdminUser(uid="docs-sam", email="sam@example.org",
                                               full_name="Sam Support", role=fv.Role.VIEWER),
                                  actor=owner)
        await store.admins.set_role("docs-sam", fv.Role.ADMIN, actor=owner)


async def _settle(page: Page, live: bool) -> None:
    if live:
        await wait_live(page)
    for canvas in await page.locator("canvas").all():
        await expect(canvas).to_have_attribute("height", re.compile("."))


async def test_screenshot_every_page(browser: Browser, live_server: LiveServer,
                                     tmp_path: Path) -> None:
    await seed(live_server)
    wanted = os.environ.get("FSV_DASHBOARD_SCREENSHOTS")
    out = Path(wanted) if wanted else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(viewport={"width": 1200, "height": 800},
                                        device_scale_factor=1, color_scheme="light")
    page = await context.new_page()
    shots: dict[str, Path] = {}

    async def shoot(name: str) -> None:
        path = out / f"dashboard-{name}.png"
        await page.screenshot(path=str(path), type="png", animations="disabled")
        shots[name] = path

    await page.goto(f"{live_server.url}/login")
    await page.fill("input[name=email]", "owner@example.org")
    await shoot("login")
    await sign_in(page, live_server, "owner")
    group_id = GROUPS[0][0].id
    pages = [
        ("dashboard", "/", True),
        ("groups", "/groups", True),
        ("group", f"/groups/{group_id}", True),
        ("channels", "/channels", True),
        ("config", "/config", True),
        ("logs", "/logs", True),
        ("database", f"/database/document?c=protected_groups&id={group_id}", True),
        ("analytics", "/analytics?period=7d", False),
        ("admins", "/admins", True),
        ("audit", "/audit", False),
    ]
    for name, path, live in pages:
        await page.goto(live_server.url + path)
        await _settle(page, live)
        if name == "channels":
            await expect(page.locator("#channel-rows tr[data-channel-id]").first).to_be_visible()
        await shoot(name)
    await context.close()
    sizes = {name: path.stat().st_size for name, path in shots.items()}
    assert all(size <= MAX_PNG_BYTES for size in sizes.values()), sizes
    assert sum(sizes.values()) <= MAX_TOTAL_BYTES, sizes
    for path in shots.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
