"""Synthetic traffic through the real bot: many users and groups, members and non-members.

The bot runs exactly as in production (polling, the same handlers); only Telegram
is replaced by the local Bot API server of :mod:`fsv_bot.fake_telegram`, where
simulated users write messages, join and leave channels and press "I have joined".
Firestore is the emulator: ``FIRESTORE_EMULATOR_HOST`` if set, else one started here
(with the library's ``firestore_verify.testing.FirestoreEmulator``), never production.

``fsv-bot-simulate --groups 5 --users 200 --messages 1000``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio

import firestore_verify as fv
from firestore_verify.testing import FirestoreEmulator
from fsv_bot.app import BotRuntime, running_bot
from fsv_bot.config import Settings
from fsv_bot.fake_telegram import Call, FakeBotApi
from fsv_bot.notices import verify_data

__all__ = [
    "Simulation",
    "SimulationConfig",
    "SimulationReport",
    "Traffic",
    "emulator_store",
    "main",
    "own_emulator",
    "settle",
    "simulated_bot",
]

OWNER_ID = 1
FIRST_USER_ID = 1000
GROUP_BASE, CHANNEL_BASE = -1001000000000, -1002000000000


@dataclass(frozen=True)
class SimulationConfig:
    """The shape of the synthetic traffic."""

    groups: int = 5
    #: Enforced channels, shared between groups (a group enforces one or two).
    channels: int = 3
    users: int = 100
    #: Messages to send; ``0`` keeps going until cancelled.
    messages: int = 500
    #: Messages per second (at most).
    rate: float = 100.0
    #: Chance that a user is a member of any one channel.
    member_ratio: float = 0.7
    #: Chance that a muted user joins the missing channels and presses "I have joined".
    join_ratio: float = 0.5
    #: Chance, per message, that a random member leaves one of their channels.
    leave_ratio: float = 0.02
    seed: int = 1
    #: Wait after every action until the bot has handled all it was sent, so the
    #: outcome depends only on ``seed``, never on how fast the bot is (tests use it).
    lockstep: bool = False


@dataclass
class SimulationReport:
    """What the simulated users did and what the bot did to them."""

    messages: int = 0
    joins: int = 0
    verify_presses: int = 0
    leaves: int = 0
    seconds: float = 0.0
    #: Filled at the end from the fake server and the store.
    mutes: int = 0
    unmutes: int = 0
    deleted: int = 0
    warnings: int = 0
    stats: dict[str, Any] = field(default_factory=dict)


class Traffic:
    """A synthetic world on ``api`` and the users acting in it, whatever runs the bot.

    It only talks to the fake server, so the bot may run in this process
    (:class:`Simulation`) or in others (the process-fault tests start ``fsv-bot``).
    """

    def __init__(self, api: FakeBotApi, config: SimulationConfig) -> None:
        self.api = api
        self.config = config
        self.rng = random.Random(config.seed)
        self.report = SimulationReport()
        self.groups: dict[int, list[int]] = {}  # group id -> enforced channel ids
        self.users = [FIRST_USER_ID + i for i in range(config.users)]

    def build_world(self) -> None:
        """Create the owner, users, channels and groups on the fake server."""
        c, api, rng = self.config, self.api, self.rng
        api.add_user(OWNER_ID, "Owner", username="sim_owner")
        channels = [CHANNEL_BASE - i for i in range(1, c.channels + 1)]
        for index, channel in enumerate(channels, 1):
            api.add_channel(channel, f"Channel {index}", username=f"sim_channel_{index}",
                            owner_id=OWNER_ID)
        for user in self.users:
            api.add_user(user, f"User{user}")
            for channel in channels:
                if rng.random() < c.member_ratio:
                    api.set_member(channel, user, "member")
        for index in range(1, c.groups + 1):
            group = GROUP_BASE - index
            api.add_group(group, f"Group {index}", owner_id=OWNER_ID)
            for user in self.users:
                api.set_member(group, user, "member")
            self.groups[group] = rng.sample(channels, k=min(len(channels), rng.choice((1, 2))))

    async def protect_all(self) -> None:
        """The owner types /protect in every group, like a real admin would."""
        for group, channels in self.groups.items():
            names = " ".join(f"@sim_channel_{CHANNEL_BASE - c}" for c in channels)
            mark = self.api.mark()
            self.api.send_message(group, OWNER_ID, f"/protect {names}")
            await self.api.wait_for_call("sendMessage", _in_chat(group), since=mark, within=30)

    def _warning_for(self, group: int, user: int) -> dict[str, Any] | None:
        data = verify_data(user)
        for message in reversed(self.api.sent_messages(group)):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
            if any(b.get("callback_data") == data for row in rows for b in row):
                return message
        return None

    def step(self) -> None:
        """One user action: a message, or (if muted) maybe joining and pressing the button."""
        api, rng, c, report = self.api, self.rng, self.config, self.report
        group = rng.choice(list(self.groups))
        user = rng.choice(self.users)
        if rng.random() < c.leave_ratio:
            joined = [ch for ch in self.groups[group] if api.status(ch, user) == "member"]
            if joined:
                api.leave(rng.choice(joined), user)
                report.leaves += 1
                return
        if api.can_send_messages(group, user):
            api.send_message(group, user, rng.choice(("hi", "gm", "wen moon", "hello all")))
            report.messages += 1
            return
        warning = self._warning_for(group, user)
        if warning is None or rng.random() >= c.join_ratio:
            return
        for channel in self.groups[group]:
            if api.status(channel, user) in ("left", "kicked"):
                api.join(channel, user)
                report.joins += 1
        api.press_button(warning, user_id=user)
        report.verify_presses += 1

    def collect(self) -> None:
        """Count what the bot did, from the calls the fake server answered."""
        report = self.report
        restricts = [c for c in self.api.calls_to("restrictChatMember") if c.ok]
        report.mutes = sum(not c.params["permissions"].get("can_send_messages") for c in restricts)
        report.unmutes = len(restricts) - report.mutes
        report.deleted = sum(c.ok for c in self.api.calls_to("deleteMessage"))
        report.warnings = sum(
            c.ok and "reply_markup" in c.params for c in self.api.calls_to("sendMessage"))


class Simulation(Traffic):
    """:class:`Traffic` against a bot running in this process (``runtime``)."""

    def __init__(self, api: FakeBotApi, runtime: BotRuntime, config: SimulationConfig) -> None:
        super().__init__(api, config)
        self.runtime = runtime

    async def settle(self, *, within: float = 30.0) -> None:
        """Wait until the bot has handled every update it was sent (see :func:`settle`)."""
        await settle(self.api, self.runtime, within=within)

    async def run(self) -> SimulationReport:
        """Send the traffic at the configured rate; then wait for the bot and collect numbers."""
        started = time.monotonic()
        interval = 1.0 / self.config.rate
        steps = 0
        lockstep = self.config.lockstep
        if lockstep:
            await self.settle()
        while self.config.messages == 0 or self.report.messages < self.config.messages:
            self.step()
            steps += 1
            if lockstep:
                await self.settle()
            delay = started + steps * interval - time.monotonic()
            await anyio.sleep(max(delay, 0))
        await self.settle(within=60)
        await self.runtime.events.flush()
        self.report.seconds = round(time.monotonic() - started, 2)
        self.collect()
        self.report.stats = (await self.runtime.store.stats.get()).model_dump(
            mode="json", exclude={"last_updated"})
        return self.report


async def settle(api: FakeBotApi, runtime: BotRuntime, *, within: float = 30.0) -> None:
    """Wait until the bot has handled every update ``api`` had for it; else ``TimeoutError``.

    Idle means no update is waiting on the server and every update delivered has
    been handled. ``handled`` is read first: handling is what queues new updates (a
    mute is a ``chat_member`` update), so an update queued before that read is
    either still pending or already counted in ``delivered``.
    """

    def idle() -> bool:
        handled = runtime.updates_handled
        return not api.pending_updates and handled >= api.updates_delivered

    try:
        await api.wait_until(idle, within=within)
    except TimeoutError:
        raise TimeoutError(
            f"the bot did not finish its updates within {within} s: "
            f"{api.updates_delivered} delivered, {runtime.updates_handled} handled, "
            f"{len(api.pending_updates)} still on the server") from None


def _in_chat(chat_id: int) -> Callable[[Call], bool]:
    return lambda call: bool(call.params["chat_id"] == chat_id)


@asynccontextmanager
async def simulated_bot(
    store: fv.Store, config: SimulationConfig, *, env: dict[str, str] | None = None
) -> AsyncIterator[Simulation]:
    """A fake Bot API server with a synthetic world, the real bot on it, groups protected."""
    async with AsyncExitStack() as stack:
        api = stack.enter_context(FakeBotApi())
        settings = Settings.from_env({
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_BASE_URL": api.base_url,
            "FSV_POLL_TIMEOUT": "1",
            "FSV_METRICS_PORT": "off",
            **(env or {}),
        })
        runtime = await stack.enter_async_context(running_bot(settings, store=store))
        simulation = Simulation(api, runtime, config)
        simulation.build_world()
        await simulation.protect_all()
        yield simulation


@contextmanager
def own_emulator() -> Iterator[str]:
    """Run a Firestore emulator for the simulation; yield its ``HOST:PORT``.

    The library starts it in a session of its own, so a Ctrl-C typed in the
    terminal reaches this process, not the emulator: the bot can still write its
    last events while it stops, and the emulator is stopped afterwards.
    """
    with FirestoreEmulator() as emulator:
        yield emulator.host


@asynccontextmanager
async def emulator_store(project: str | None = None) -> AsyncIterator[fv.Store]:
    """A store on ``FIRESTORE_EMULATOR_HOST``, or on an emulator started (and stopped) here."""
    project = project or f"sim-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        host = os.environ.get("FIRESTORE_EMULATOR_HOST") or stack.enter_context(own_emulator())
        store = await fv.connect(project=project, emulator_host=host)
        try:
            yield store
        finally:
            await store.close()


def _parse(argv: list[str] | None) -> tuple[SimulationConfig, str | None]:
    defaults = SimulationConfig()
    parser = argparse.ArgumentParser(prog="fsv-bot-simulate", description=__doc__.split("\n")[0])
    number: Callable[[str], float] = float
    for name, kind in (("groups", int), ("channels", int), ("users", int), ("messages", int),
                       ("rate", number), ("member_ratio", number), ("join_ratio", number),
                       ("leave_ratio", number), ("seed", int)):
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind,
                            default=getattr(defaults, name))
    parser.add_argument("--lockstep", action="store_true",
                        help="wait for the bot after every action (reproducible outcome)")
    parser.add_argument("--project", default=os.environ.get("FIREBASE_PROJECT_ID"),
                        help="emulator project to write to (default: $FIREBASE_PROJECT_ID, "
                             "else a fresh sim-... project)")
    options = vars(parser.parse_args(argv))
    project = options.pop("project")
    return SimulationConfig(**options), project


async def _main(config: SimulationConfig, project: str | None) -> SimulationReport:
    async with emulator_store(project) as store, simulated_bot(store, config) as simulation:
        return await simulation.run()


def main(argv: list[str] | None = None) -> int:
    """Run one simulation and print its report as JSON."""
    config, project = _parse(argv)
    report = anyio.run(_main, config, project)
    json.dump(asdict(report), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
