"""``make demo``: the simulated bot at work, with live totals and the latest events.

Starts (or reuses, with ``FIRESTORE_EMULATOR_HOST``) the Firestore emulator, the local
Bot API server, the real bot and endless synthetic traffic, and redraws the terminal
whenever the library's watches report a change: ``store.stats.watch()`` for the
totals and ``store.analytics.activity.watch()`` for the latest events. Nothing is
polled. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

import anyio

import firestore_verify as fv
from fsv_bot.logs import setup_logging
from fsv_bot.simulate import Simulation, SimulationConfig, emulator_store, simulated_bot

__all__ = ["Board", "follow", "main", "run_demo"]

T = TypeVar("T")

_STATUS_COLOURS = {"success": "32", "failed": "33", "error": "31"}
#: The screen the board must fit: a classic terminal.
WIDTH, HEIGHT = 80, 24
#: Latest events shown: what fits under the totals in HEIGHT rows.
EVENTS = 8
_COLOUR_CODE = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Board:
    """What the screen shows: the latest values of both watches."""

    stats: fv.Stats | None = None
    events: list[fv.Verification] = field(default_factory=list)
    updates: int = 0

    def render(self, simulation: Simulation, *, colour: bool = True) -> str:
        """The whole screen as text, each line cut to the screen's width."""

        def paint(code: str, text: str) -> str:
            return f"\x1b[{code}m{text}\x1b[0m" if colour else text

        s = self.stats or fv.Stats()
        report = simulation.report
        cache = simulation.runtime.cache.stats
        lines = [
            paint("1", "firestore-verify demo: the reference bot under synthetic traffic"),
            f"project {simulation.runtime.store.project}, Bot API {simulation.api.base_url}",
            "",
            paint("1", "Totals") + "  (live from store.stats.watch())",
            f"  groups {s.total_groups}   channels {s.total_channels}   users {s.total_users}",
            f"  verifications {s.total_verifications}   "
            + paint("32", f"success {s.success_count}") + "   "
            + paint("33", f"failed {s.failed_count}") + "   "
            + paint("31", f"error {s.error_count}")
            + f"   success rate {s.success_rate:.1f}%",
            "",
            paint("1", "Simulated users"),
            f"  messages {report.messages}   joins {report.joins}   "
            f"\u201cI have joined\u201d {report.verify_presses}   leaves {report.leaves}",
            f"  bot cache: {cache.size} entries, hit rate {cache.hit_rate:.0%}",
            "",
            paint("1", "Latest events") + "  (live from store.analytics.activity.watch())",
            "  time     status        user          group        channel  latency  cache",
            *(_event_line(event, paint) for event in self.events),
            "",
            "Ctrl-C stops the bot, the Bot API server and the emulator.",
        ]
        return "\n".join(_fit(line) for line in lines)

    def changes(self, printed: set[str]) -> str:
        """For a pipe: the totals, then the events not ``printed`` yet, one line each."""
        s = self.stats or fv.Stats()
        lines = [f"totals: verifications {s.total_verifications}  success {s.success_count}  "
                 f"failed {s.failed_count}  error {s.error_count}  users {s.total_users}"]
        lines += [_event_line(event, _plain) for event in reversed(self.events)
                  if event.id not in printed]  # oldest first
        return "\n".join(_fit(line) for line in lines) + "\n"


def _plain(_code: str, text: str) -> str:
    return text


def _event_line(event: fv.Verification, paint: Callable[[str, str], str]) -> str:
    status = event.status.value
    latency = f"{event.latency_ms:.1f}ms" if event.latency_ms is not None else "-"
    return (f"  {event.occurred_at:%H:%M:%S} "
            + paint(_STATUS_COLOURS.get(status, "0"), f"{status:<7}")
            + f" {event.user_id:>10} {event.group_id:>14} {event.channel_id or '-':>14}"
            + f" {latency:>8}  {'hit' if event.cached else 'miss'}")


def _fit(line: str) -> str:
    """``line`` cut to fit the screen's width, with an ellipsis (colour codes take no room)."""
    if len(_COLOUR_CODE.sub("", line)) < WIDTH:
        return line
    visible, out, escape = 0, [], False
    for char in line:
        if char == "\x1b":
            escape = True
        if not escape:
            if visible == WIDTH - 2:
                out.append("\u2026")
                break
            visible += 1
        elif char == "m":
            escape = False
        out.append(char)
    if "\x1b[" in line:
        out.append("\x1b[0m")
    return "".join(out)


async def follow(stream: fv.LiveStream[T], show: Callable[[T], None]) -> None:
    """Show every value of ``stream``; unsubscribe even when cancelled (before the store closes)."""
    try:
        await stream.start()
        async for value in stream:
            show(value)
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()


async def run_demo(
    config: SimulationConfig,
    out: TextIO,
    *,
    stop: anyio.Event | None = None,
    duration: float | None = None,
    events: int = EVENTS,
    colour: bool = True,
) -> Board:
    """Run the demo until ``stop`` is set (or ``duration`` seconds passed); return the last board.

    Stopping is graceful: the traffic and the watches end first, then the bot, the
    Bot API server and the emulator, each cleanly (a cancelled shutdown could not be).
    """
    board = Board()
    async with emulator_store() as store, simulated_bot(store, config) as simulation:

        printed: set[str] = set()

        def redraw() -> None:
            board.updates += 1
            if colour:  # a terminal: the whole board, in place
                out.write("\x1b[H\x1b[2J" + board.render(simulation) + "\n")
            else:  # piped: the board once, then one line per change
                out.write(board.render(simulation, colour=False) + "\n"
                          if board.updates == 1 else board.changes(printed))
            printed.update(e.id for e in board.events)
            out.flush()

        def show_stats(stats: fv.Stats) -> None:
            board.stats = stats
            redraw()

        def show_events(latest: list[fv.Verification]) -> None:
            board.events = latest
            redraw()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(follow, store.stats.watch(), show_stats)
            tasks.start_soon(follow, store.analytics.activity.watch(limit=events), show_events)
            tasks.start_soon(simulation.run)
            with anyio.move_on_after(duration if duration is not None else float("inf")):
                await (stop or anyio.Event()).wait()
            tasks.cancel_scope.cancel()
    return board


async def _until_signal(config: SimulationConfig, duration: float | None) -> None:
    stop = anyio.Event()
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tasks:

            async def demo() -> None:
                await run_demo(config, sys.stdout, stop=stop, duration=duration,
                               colour=sys.stdout.isatty())
                tasks.cancel_scope.cancel()  # done: stop listening for signals

            tasks.start_soon(demo)
            async for _ in signals:
                stop.set()  # a second Ctrl-C while stopping is ignored


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``fsv-bot-demo`` / ``python -m fsv_bot.demo``."""
    parser = argparse.ArgumentParser(prog="fsv-bot-demo", description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=6)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: at Ctrl-C)")
    args = parser.parse_args(argv)
    setup_logging("ERROR")  # the screen is the output; errors still show
    config = SimulationConfig(groups=args.groups, users=args.users, messages=0, rate=args.rate)
    anyio.run(_until_signal, config, args.duration)
    print("\nstopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
