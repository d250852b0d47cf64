"""A fleet of bot processes behind nginx, for the fleet tests.

* :func:`self_signed_certificate`: a throwaway TLS certificate for ``127.0.0.1``;
* :class:`Nginx`: Debian's nginx on a free port, terminating TLS and balancing round
  robin over the bots' webhook ports, run as the current user from a temporary
  directory; every answer says which backend gave it (``X-Fsv-Upstream``);
* :class:`Fleet`: N ``python -m fsv_bot`` processes in webhook mode behind that nginx,
  the fake Bot API server delivering to it; waits for the whole fleet to be idle, its
  events committed and its shard leases balanced;
* :class:`HotDocumentWrites`: every version of the hot documents (counter shards and
  daily rollups) an ``on_snapshot`` listener sees, to measure how often each is written;
* :func:`assert_rollups_equal_a_recount`: the daily rollups against the stored events.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fsv_bot.fake_telegram import FakeBotApi
from process_bots import BotProcess, Check, free_port

import firestore_verify as fv

__all__ = [
    "Fleet",
    "FleetBot",
    "HotDocumentWrites",
    "Nginx",
    "NginxNotFoundError",
    "PortTakenError",
    "assert_rollups_equal_a_recount",
    "find_nginx",
    "recount_rollups",
    "self_signed_certificate",
    "upstream_port",
    "utc_now",
]

#: The header nginx adds to every answer: the backend(s) it tried, the last one answered.
UPSTREAM_HEADER = "X-Fsv-Upstream"
#: The path of deploy/nginx.conf.
WEBHOOK_PATH = "/telegram/webhook"
_LEASE_LOG = re.compile(r"^shard leases of (\S+): ")


# ---------------------------------------------------------------------------- TLS


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (valid for the IP ``host``, one day); return both."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


# ---------------------------------------------------------------------------- nginx


class NginxNotFoundError(RuntimeError):
    """No nginx binary to run."""


class PortTakenError(RuntimeError):
    """The port picked for a server was bound by someone else before the server got it."""


_IN_USE = "Address already in use"


def find_nginx() -> Path:
    """``nginx`` on ``PATH``, else Debian's ``/usr/sbin/nginx``."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
                                      else None)
    if found is None:
        raise NginxNotFoundError("nginx is not installed: `apt-get install nginx` (Debian)")
    return Path(found)


_NGINX_CONF = """\
{user}daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    log_format fleet '$msec $status $request_time upstream=$upstream_addr '
                     '$upstream_status';
    access_log {dir}/access.log fleet;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream bots {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        # As in deploy/nginx.conf (without Docker's resolver), plus the header.
        location = {path} {{
            proxy_pass http://bots;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # A backend that refuses the connection gets the next one: nothing was sent
            # yet, so even a POST goes on (nginx never re-sends one that reached a bot).
            proxy_next_upstream error timeout http_502 http_503;
            client_max_body_size 1m;
            proxy_connect_timeout 2s;
            proxy_read_timeout 15s;
            add_header {header} $upstream_addr always;
        }}
    }}
}}
"""


class Nginx:
    """nginx on ``127.0.0.1:<free port>`` with TLS, balancing round robin over ``backends``.

    It runs in the foreground (``daemon off``) as the current user, with its prefix,
    pid file, logs and temporary files in ``directory``.
    """

    def __init__(self, directory: Path, backends: Iterable[int], *, certificate: Path,
                 key: Path, path: str = WEBHOOK_PATH) -> None:
        self.directory = directory
        self.backends = list(backends)
        self.port = free_port()
        self.path = path
        self.certificate, self.key = certificate, key
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The webhook URL bots give ``setWebhook``: ``https://127.0.0.1:<port><path>``."""
        return f"https://127.0.0.1:{self.port}{self.path}"

    def config(self) -> str:
        """The configuration file's text."""
        # As root, nginx would run its workers as nobody: keep them the current user.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;"
                            for port in self.backends)
        return _NGINX_CONF.format(user=user, dir=self.directory, servers=servers, port=self.port,
                                  cert=self.certificate, key=self.key, path=self.path,
                                  header=UPSTREAM_HEADER)

    def start(self, within: float = 15.0) -> Nginx:
        """Write the configuration, start nginx, and wait until it accepts connections.

        Raises :class:`PortTakenError` when its port was taken meanwhile (pick another).
        """
        binary = find_nginx()
        conf = self.directory / "nginx.conf"
        conf.write_text(self.config())
        pid_file = self.directory / "nginx.pid"
        pid_file.unlink(missing_ok=True)
        error_log = self.directory / "error.log"
        self.process = subprocess.Popen(
            [str(binary), "-p", str(self.directory), "-c", str(conf), "-e", str(error_log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=(self.directory / "stderr.log").open("wb"))
        deadline = time.monotonic() + within
        while True:
            if self.process.poll() is not None:
                error = PortTakenError if _IN_USE in self.log_tail() else RuntimeError
                raise error(f"nginx exited with {self.process.returncode}:\n{self.log_tail()}")
            # nginx writes its pid file once its sockets are bound: the port is its own.
            if pid_file.exists():
                with contextlib.suppress(OSError), socket.create_connection(
                        ("127.0.0.1", self.port), timeout=0.5):
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not listen on {self.port} within {within} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.02)

    def reconfigure(self, backends: Iterable[int]) -> None:
        """Balance over ``backends`` from now on (rewrite the file, SIGHUP: a graceful reload)."""
        assert self.process is not None
        self.backends = list(backends)
        (self.directory / "nginx.conf").write_text(self.config())
        self.process.send_signal(signal.SIGHUP)

    def log_tail(self, lines: int = 20) -> str:
        """The end of nginx's error log and stderr, for failure messages."""
        text = []
        for name in ("stderr.log", "error.log"):
            path = self.directory / name
            if path.exists():
                text += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text)

    def stop(self) -> None:
        """Stop nginx (SIGQUIT: finish what is in flight; SIGKILL after 10 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# ---------------------------------------------------------------------------- the fleet


def upstream_port(headers: Mapping[str, str]) -> int | None:
    """The port of the backend that gave an answer through nginx (its header), if any.

    nginx lists every backend it tried, ``"127.0.0.1:1, 127.0.0.1:2"``: the last answered.
    """
    value = next((v for k, v in headers.items() if k.lower() == UPSTREAM_HEADER.lower()), "")
    host, _, port = value.split(",")[-1].strip().rpartition(":")
    return int(port) if host and port.isdigit() else None


@dataclass
class FleetBot:
    """One bot of the fleet and the port its webhook listens on."""

    process: BotProcess
    webhook_port: int
    killed: bool = False

    @property
    def name(self) -> str:
        """The bot's name (its log file is ``<name>.log``)."""
        return self.process.name

    def lease_owner(self) -> str | None:
        """The owner id its logger's shard leases are held under (from its log)."""
        owner = None
        for line in self.process.lines():
            if line.get("logger") == "firestore_verify.leases":
                match = _LEASE_LOG.match(str(line.get("msg", "")))
                if match:
                    owner = match.group(1)
        return owner

    def lease_changes(self, since: dt.datetime) -> list[str]:
        """``"<time> <bot>: <message>"`` of its lease log lines (held shards, failed renewals)."""
        changes = []
        for line in self.process.lines():
            if line.get("logger") == "firestore_verify.leases" and "ts" in line \
                    and dt.datetime.fromisoformat(str(line["ts"])) >= since:
                changes.append(f"{str(line['ts'])[11:23]} {self.name}: {line.get('msg')}")
        return changes


@dataclass
class Fleet:
    """``size`` bot processes in webhook mode behind nginx, on one Firestore project."""

    api: FakeBotApi
    store: fv.Store
    emulator_host: str
    directory: Path
    certificate: Path
    key: Path
    size: int = 4
    #: The shard pool the loggers share (``FSV_EVENT_SHARDS``).
    shards: int = 4
    lease_seconds: int = 5
    secret: str = "fleet-secret"
    redis_url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    bots: list[FleetBot] = field(default_factory=list)
    nginx: Nginx | None = None

    @property
    def alive(self) -> list[FleetBot]:
        """The bots not killed."""
        return [b for b in self.bots if not b.killed]

    async def start(self) -> None:
        """nginx, then the bots one by one (each ``setWebhook``s to nginx), each ready.

        Ports are picked free and bound a moment later by another process, so one may
        be taken meanwhile: the server that loses it is started again on a new one
        (nginx is then pointed at the bots' final ports).
        """
        ports = [free_port() for _ in range(self.size)]
        for attempt in range(3):
            try:
                self.nginx = Nginx(self.directory, ports, certificate=self.certificate,
                                   key=self.key).start()
                break
            except PortTakenError:
                if attempt == 2:
                    raise
        assert self.nginx is not None
        # All at once, as a deployment starts them: their first lease renewals race.
        processes = [self._start_bot(index, ports[index]) for index in range(self.size)]
        for index in range(self.size):
            process = processes[index]
            for attempt in range(3):
                try:
                    await process.wait_ready()
                    break
                except AssertionError:
                    if process.process.poll() is None or _IN_USE not in process.log_tail(40) \
                            or attempt == 2:
                        raise
                    process.log_path.rename(process.log_path.with_suffix(f".{attempt}.log"))
                    ports[index] = free_port()
                    process = self._start_bot(index, ports[index])
            self.bots.append(FleetBot(process, ports[index]))
        if ports != self.nginx.backends:
            self.nginx.reconfigure(ports)
        await self.wait_routed(within=15)

    def _start_bot(self, index: int, port: int) -> BotProcess:
        assert self.nginx is not None
        env = {
            "FSV_MODE": "webhook",
            "FSV_WEBHOOK_URL": self.nginx.url,
            "FSV_WEBHOOK_LISTEN": "127.0.0.1",
            "FSV_WEBHOOK_PORT": str(port),
            "FSV_WEBHOOK_SECRET": self.secret,
            "FSV_EVENT_SHARDS": str(self.shards),
            "FSV_EVENT_LEASES": "true",
            "FSV_LEASE_SECONDS": str(self.lease_seconds),
            **({"FSV_REDIS_URL": self.redis_url} if self.redis_url else {}),
            **self.env,
        }
        return BotProcess.start(f"bot{index}", self.api, emulator_host=self.emulator_host,
                                project=self.store.project, directory=self.directory, env=env)

    async def wait_routed(self, within: float) -> None:
        """Wait until nginx has answered from every live bot (GETs: each bot says 405)."""
        assert self.nginx is not None
        want = {b.webhook_port for b in self.alive}
        seen: set[int] = set()
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(verify=ssl.create_default_context(
                cafile=str(self.certificate)), timeout=5) as http:
            while not want <= seen:
                with contextlib.suppress(httpx.TransportError):
                    response = await http.get(self.nginx.url)
                    port = upstream_port(response.headers)
                    if port is not None and response.status_code < 500:
                        seen.add(port)
                assert time.monotonic() < deadline, (
                    f"nginx did not route to every bot within {within} s: answered from "
                    f"{sorted(seen)}, bots on {sorted(want)}\n{self.nginx.log_tail()}")
                await anyio.sleep(0.02)

    async def stop(self) -> dict[str, int]:
        """SIGTERM every live bot at once (exit codes by name), then stop nginx."""
        codes: dict[str, int] = {}

        async def stop(bot: FleetBot) -> None:
            codes[bot.name] = await bot.process.stop(within=30)

        try:
            async with anyio.create_task_group() as tasks:
                for bot in self.alive:
                    tasks.start_soon(stop, bot)
        finally:
            for bot in self.bots:
                bot.process.kill()
            if self.nginx is not None:
                self.nginx.stop()
        return codes

    def kill(self, bot: FleetBot) -> None:
        """SIGKILL one bot (no goodbye: its leases lapse, its buffered events are lost)."""
        bot.process.process.send_signal(signal.SIGKILL)
        bot.process.process.wait(10)
        bot.killed = True

    def log_tails(self) -> str:
        """Every bot's last log lines and nginx's, for failure messages."""
        parts = [f"--- {b.name}:\n{b.process.log_tail(8)}" for b in self.bots]
        if self.nginx is not None:
            parts.append(f"--- nginx:\n{self.nginx.log_tail(8)}")
        return "\n".join(parts)

    # -- what reached whom --------------------------------------------------------------
    def received(self) -> Counter[int]:
        """Updates each webhook port accepted (a 2xx through nginx), by port."""
        return Counter(port for a in self.api.webhook.attempts
                       if a.ok and (port := upstream_port(a.headers)) is not None)

    def receivers(self, update_ids: set[int]) -> set[int]:
        """The webhook ports that accepted any of ``update_ids``."""
        return {port for a in self.api.webhook.attempts
                if a.ok and a.update_id in update_ids
                and (port := upstream_port(a.headers)) is not None}

    async def handled(self) -> dict[int, float]:
        """Updates each live bot has handled, by webhook port."""
        return {b.webhook_port: await b.process.metric("fsv_updates_handled_total")
                for b in self.alive}

    async def wait_idle(self, within: float = 60.0) -> None:
        """Wait until nothing waits for delivery and every live bot handled what it accepted.

        Handled counts are read first: handling is what queues new updates (a mute
        is a ``chat_member`` update), so one queued before that read is either still
        pending or already counted as accepted.
        """
        deadline = time.monotonic() + within
        while True:
            for bot in self.alive:
                bot.process._assert_alive("handling updates")
            handled = await self.handled()
            pending, flying = len(self.api.pending_updates), self.api.webhook.in_flight
            received = self.received()
            behind = {port: (received[port], handled[port]) for port in handled
                      if handled[port] < received[port]}
            if not pending and not flying and not behind:
                return
            assert time.monotonic() < deadline, (
                f"the fleet did not finish its updates within {within} s: {pending} pending, "
                f"{flying} in flight, accepted vs handled by port {behind}, "
                f"{self.api.webhook.failed_attempts} failed attempts, "
                f"{self.api.webhook.dropped} dropped\n{self.log_tails()}")
            await anyio.sleep(0.05)

    async def wait_committed(self, within: float = 60.0) -> None:
        """Wait until no live bot has an event waiting for Firestore."""
        deadline = time.monotonic() + within
        while True:
            pending = {b.name: (await b.process.health())["events_pending"] for b in self.alive}
            if not any(pending.values()):
                return
            assert time.monotonic() < deadline, (
                f"events still uncommitted after {within} s: {pending}\n{self.log_tails()}")
            await anyio.sleep(0.1)

    async def wait_for_health(self, key: str, value: object, *, within: float,
                              bots: list[FleetBot] | None = None) -> None:
        """Wait until ``/health`` of every (live) bot says ``key: value``."""
        deadline = time.monotonic() + within
        while True:
            seen = {b.name: (await b.process.health()).get(key) for b in bots or self.alive}
            if all(v == value for v in seen.values()):
                return
            assert time.monotonic() < deadline, (
                f"/health {key} was not {value!r} on every bot within {within} s: {seen}")
            await anyio.sleep(0.1)

    def lease_changes(self, since: dt.datetime) -> str:
        """Every bot's lease log lines since ``since``, in time order (for failure messages)."""
        return "\n".join(sorted(line for b in self.bots for line in b.lease_changes(since)))

    def taken(self, bots: Iterable[FleetBot] | None = None) -> Counter[Check]:
        """Every verification the bots took (their logs), as one multiset."""
        total: Counter[Check] = Counter()
        for bot in self.bots if bots is None else bots:
            total += bot.process.checks()
        return total

    # -- shard leases --------------------------------------------------------------------
    async def lease_owners(self) -> dict[int, str | None]:
        """Shard -> owner id of its lease document (``None``: free)."""
        shards = self.store.collection("_metadata").document("leases").collection("shards")
        owners: dict[int, str | None] = dict.fromkeys(range(self.shards))
        async for snap in shards.stream():
            owners[int(snap.id)] = (snap.to_dict() or {}).get("owner")
        return owners

    async def wait_leases_balanced(self, within: float) -> dict[int, str | None]:
        """Wait until every shard is held and each live bot holds its share; return owners."""
        deadline = time.monotonic() + within
        while True:
            owners = await self.lease_owners()
            mine = {b.name: b.lease_owner() for b in self.alive}
            counts = Counter(owners.values())
            share = self.shards // len(self.alive)
            if (None not in counts and all(o is not None for o in mine.values())
                    and set(counts) == set(mine.values())
                    and all(share <= n <= share + 1 for n in counts.values())):
                return owners
            assert time.monotonic() < deadline, (
                f"shard leases not balanced over {len(self.alive)} bots within {within} s: "
                f"owners {owners}, bots {mine}")
            await anyio.sleep(0.1)


# ---------------------------------------------------------------------------- hot documents


class HotDocumentWrites:
    """The update times of every hot document version ``on_snapshot`` listeners report.

    Hot documents: the counter shards (``_metadata/stats`` and
    ``_metadata/stats/shards/{k}``) and the daily rollups (``rollups_daily`` and
    ``rollups_group_daily``). A listener may coalesce changes that come close together
    and report only the last one, so this can miss a too-fast write, never invent one.
    Update times are the emulator's commit times (this machine's clock).
    """

    def __init__(self, store: fv.Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._versions: dict[str, set[dt.datetime]] = defaultdict(set)
        self._watches: list[Any] = []
        self._ready: list[threading.Event] = []

    def start(self, within: float = 30.0) -> HotDocumentWrites:
        """Listen (sync client, gRPC threads) and wait for every first snapshot."""
        client, name = self._store.sync_client, self._store.collection_name
        stats = client.collection(name("_metadata")).document("stats")
        targets = [stats, stats.collection("shards"), client.collection(name("rollups_daily")),
                   client.collection(name("rollups_group_daily"))]
        for target in targets:
            ready = threading.Event()
            self._ready.append(ready)
            self._watches.append(target.on_snapshot(self._callback(ready)))
        for ready in self._ready:
            assert ready.wait(within), f"a hot-document listener had no snapshot in {within} s"
        return self

    def _callback(self, ready: threading.Event) -> Any:
        def on_snapshot(docs: list[Any], changes: list[Any], read_time: Any) -> None:
            with self._lock:
                for snap in docs:
                    if snap.exists and snap.update_time is not None:
                        self._versions[snap.reference.path].add(snap.update_time)
            ready.set()
        return on_snapshot

    def close(self) -> None:
        """Stop listening."""
        for watch in self._watches:
            with contextlib.suppress(Exception):
                watch.unsubscribe()
        self._watches.clear()

    def writes_since(self, since: dt.datetime) -> dict[str, list[dt.datetime]]:
        """The versions seen of each document written at or after ``since``, oldest first."""
        with self._lock:
            return {path: sorted(t for t in times if t >= since)
                    for path, times in self._versions.items()}

    def closest_writes(self, since: dt.datetime) -> tuple[float, str] | None:
        """The smallest gap (seconds) between two writes after ``since`` of one document."""
        best: tuple[float, str] | None = None
        for path, times in self.writes_since(since).items():
            for before, after in itertools.pairwise(times):
                gap = (after - before).total_seconds()
                if best is None or gap < best[0]:
                    best = (gap, path)
        return best


# ---------------------------------------------------------------------------- recounts


def _day(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d")


_COUNTS = ("total", "success", "failed", "error", "unique_users", "new_users")


def recount_rollups(events: list[dict[str, Any]],
                    ) -> tuple[dict[str, Counter[str]], dict[tuple[int, str], Counter[str]]]:
    """What the daily and group-daily rollups should say, from the events alone."""
    daily: dict[str, Counter[str]] = defaultdict(Counter)
    group_daily: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    first_day: dict[int, str] = {}
    first_in_group: dict[tuple[int, int], str] = {}
    seen: set[tuple[str, int]] = set()
    seen_in_group: set[tuple[int, str, int]] = set()
    for event in sorted(events, key=lambda e: e["occurred_at"]):
        day, user, group = _day(event["occurred_at"]), event["user_id"], event["group_id"]
        for counts in (daily[day], group_daily[(group, day)]):
            counts["total"] += 1
            counts[event["status"]] += 1
        if (day, user) not in seen:
            seen.add((day, user))
            daily[day]["unique_users"] += 1
        if (group, day, user) not in seen_in_group:
            seen_in_group.add((group, day, user))
            group_daily[(group, day)]["unique_users"] += 1
        if user not in first_day:
            first_day[user] = day
            daily[day]["new_users"] += 1
        if (group, user) not in first_in_group:
            first_in_group[(group, user)] = day
            group_daily[(group, day)]["new_users"] += 1
    return dict(daily), dict(group_daily)


async def assert_rollups_equal_a_recount(store: fv.Store, events: list[dict[str, Any]]) -> None:
    """The daily and group-daily rollups (summed over shards) equal a recount of ``events``."""
    daily: dict[str, Counter[str]] = defaultdict(Counter)
    async for snap in store.collection("rollups_daily").stream():
        data = snap.to_dict() or {}
        daily[data["day"]].update({k: int(data.get(k, 0)) for k in _COUNTS})
    group_daily: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    async for snap in store.collection("rollups_group_daily").stream():
        data = snap.to_dict() or {}
        group_daily[(int(data["group_id"]), data["day"])].update(
            {k: int(data.get(k, 0)) for k in _COUNTS})
    want_daily, want_group = recount_rollups(events)

    def clean(table: Mapping[Any, Counter[str]]) -> dict[Any, dict[str, int]]:
        return {key: {k: v for k, v in counts.items() if v} for key, counts in table.items()}

    assert clean(daily) == clean(want_daily), (
        f"daily rollups {clean(daily)} != recount {clean(want_daily)}")
    assert clean(group_daily) == clean(want_group), (
        "group rollups != recount: " + _table_difference(clean(group_daily), clean(want_group)))


def _table_difference(got: dict[Any, dict[str, int]], want: dict[Any, dict[str, int]]) -> str:
    keys = sorted(set(got) | set(want), key=str)
    wrong = [(k, got.get(k), want.get(k)) for k in keys if got.get(k) != want.get(k)]
    return f"{len(wrong)} differ, e.g. (key, stored, recount) {wrong[:3]}"


def utc_now() -> dt.datetime:
    """Now, in UTC (the emulator's update times are on this machine's clock)."""
    return dt.datetime.now(dt.timezone.utc)

