"""The reference deployment under ``deploy/`` matches the apps it runs.

- Every environment variable that the Dockerfiles, ``compose.yaml``, the env file
  examples and the systemd units set is one its app reads. The bot's are found by
  setting each one to a bad value and watching ``Settings.from_env`` change; the
  API's and the dashboard's from their pydantic-settings fields; Firebase's by
  the same probe on the library's ``resolve_settings``.
- Every command is the app's own console script in its ``pyproject.toml``, installed.
- The health checks are valid commands on routes that exist (the bot's is run).
- nginx's upstreams are the bot replicas' webhook ports, its webhook location the
  path of ``FSV_WEBHOOK_URL``, for compose and for the systemd units alike.
- ``compose.yaml`` passes ``docker compose config`` (or ``docker-compose config``)
  and the units ``systemd-analyze verify``; both are also checked structurally.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import anyio
import pytest
import uvicorn.config
import yaml
from fsv_api.app import create_app as create_api
from fsv_api.settings import ApiSettings
from fsv_bot.config import ConfigError, Settings
from fsv_bot.metrics import Metrics, MetricsServer
from fsv_dashboard.app import create_app as create_dashboard
from fsv_dashboard.settings import DashboardSettings
from starlette.routing import Match

import firestore_verify as fv
from firestore_verify.config import resolve_settings
from firestore_verify.testing.plugin import REQUIRE_ENV_VAR

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
COMPOSE = DEPLOY / "compose.yaml"

#: Set by the deployment for the bot before the bot reads it (issue "Scale out": the
#: shared membership cache on Redis). Remove a name here once the bot reads it.
ANNOUNCED: dict[str, set[str]] = {}
#: Read by Python itself, not by an app; allowed only in a Dockerfile's ENV.
PYTHON_RUNTIME = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
#: Read by uvicorn, which serves the API and the dashboard (checked in its source below).
UVICORN = {"FORWARDED_ALLOW_IPS"}
#: A value no setting accepts as it is, and no default equals.
PROBE = "fsv-probe \N{SNOWMAN}"


@dataclass(frozen=True)
class App:
    name: str
    package: str
    dockerfile: Path
    unit: str


APPS = {
    "bot": App("bot", "fsv_bot", DEPLOY / "bot.Dockerfile", "fsv-bot@.service"),
    "api": App("api", "fsv_api", DEPLOY / "api.Dockerfile", "fsv-api.service"),
    "dashboard": App("dashboard", "fsv_dashboard", DEPLOY / "dashboard.Dockerfile",
                     "fsv-dashboard.service"),
}
SETTINGS: dict[str, type[fv.EnvSettings]] = {"api": ApiSettings, "dashboard": DashboardSettings}


def require_or_skip(missing: str) -> None:
    """Skip for a missing tool, or fail when the run must not skip (CI)."""
    if os.environ.get(REQUIRE_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}:
        pytest.fail(f"{missing} ({REQUIRE_ENV_VAR} is set, so this fails instead of skipping)",
                    pytrace=False)
    pytest.skip(missing)


# --- what the apps read --------------------------------------------------------------

def _bot_outcome(env: Mapping[str, str]) -> object:
    try:
        settings = Settings.from_env(env)
        return settings.model_dump(), settings.cache  # what it read, not the env it kept
    except ConfigError as exc:
        return tuple(exc.problems)


def _library_outcome(env: Mapping[str, str]) -> object:
    try:
        return resolve_settings(project=None, database="(default)", credentials_file=None,
                                emulator_host=None, env=env)
    except fv.ConfigurationError as exc:
        return str(exc)


def _changes_outcome(outcome: Callable[[Mapping[str, str]], object],
                     base: Mapping[str, str], name: str) -> bool:
    """Whether setting ``name`` to a bad value changes what ``outcome`` makes of ``base``."""
    return outcome({**base, name: PROBE}) != outcome(base)


def library_reads(name: str) -> bool:
    """``fv.connect`` reads ``name`` (the Firebase project and credentials)."""
    return _changes_outcome(_library_outcome, {"FIREBASE_PROJECT_ID": "demo-probe"}, name)


def pydantic_names(settings: type[fv.EnvSettings]) -> set[str]:
    return {settings.variable(field) for field in settings.model_fields}


def app_reads(app: str, name: str) -> bool:
    if library_reads(name):
        return True
    if app == "bot":
        return _changes_outcome(_bot_outcome, {"TELEGRAM_BOT_TOKEN": "123:probe"}, name)
    # pydantic-settings matches names case-insensitively (the apps keep its default).
    return name.upper() in pydantic_names(SETTINGS[app]) or name in UVICORN


def test_the_probe_finds_what_the_apps_read() -> None:
    assert app_reads("bot", "FSV_WEBHOOK_PORT")
    assert app_reads("bot", "FV_CACHE_POSITIVE_TTL")
    assert app_reads("bot", "GOOGLE_APPLICATION_CREDENTIALS")
    assert not app_reads("bot", "FSV_WEBHOOK_PORTS")
    assert not app_reads("bot", "FSV_API_PORT")
    assert app_reads("api", "FSV_API_REDIS_URL")
    assert not app_reads("dashboard", "FSV_API_REDIS_URL")
    assert app_reads("dashboard", "FIREBASE_PRIVATE_KEY")


def test_uvicorn_reads_what_the_deployment_gives_it() -> None:
    source = Path(uvicorn.config.__file__).read_text(encoding="utf-8")
    for name in UVICORN:
        assert f'"{name}"' in source, f"uvicorn no longer reads {name}"


def test_announced_variables_are_not_read_yet() -> None:
    for app, names in ANNOUNCED.items():
        for name in names:
            assert not app_reads(app, name), (
                f"fsv-{app} reads {name} now: remove it from ANNOUNCED in {__file__}")


# --- reading the deployment files -----------------------------------------------------

def dockerfile_final_stage(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of the last stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    instructions = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            instructions.append((word.upper(), rest.strip()))
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from + 1:]


def dockerfile_env(app: App) -> dict[str, str]:
    env = {}
    for word, rest in dockerfile_final_stage(app.dockerfile):
        if word == "ENV":
            for item in shlex.split(rest):
                name, sep, value = item.partition("=")
                assert sep, f"{app.dockerfile.name}: write ENV as NAME=value, got {item!r}"
                env[name] = value
    return env


def dockerfile_exec_form(app: App, instruction: str) -> list[str]:
    args = [rest for word, rest in dockerfile_final_stage(app.dockerfile) if word == instruction]
    assert len(args) == 1, f"{app.dockerfile.name} needs exactly one {instruction}"
    if instruction == "HEALTHCHECK":
        args = [args[0].split(" CMD ", 1)[1]]
    value = json.loads(args[0])
    assert isinstance(value, list)
    return [str(v) for v in value]


@dataclass(frozen=True)
class EnvFile:
    values: dict[str, str]
    #: Names only shown in comments (``# NAME=value``): documented as settable.
    commented: set[str]


def read_env_file(path: Path) -> EnvFile:
    values, commented = {}, set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"#\s*([A-Z][A-Z0-9_]*)=", line):
            commented.add(match[1])
        elif line.strip() and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"{path.name}: not NAME=value: {line!r}"
            values[name.strip()] = value.strip().strip('"')
    return EnvFile(values, commented)


def example_of(env_file: str) -> Path:
    """The example shipped for an env file an operator writes (``fsv.env``, ``/etc/fsv/...``)."""
    path = DEPLOY / f"{Path(env_file).name}.example"
    assert path.is_file(), f"{env_file} has no example {path.relative_to(ROOT)}"
    return path


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def service_app(service: Mapping[str, Any]) -> App | None:
    build = service.get("build")
    if build is None:
        return None
    dockerfile = Path(build["dockerfile"]).name
    return next(app for app in APPS.values() if app.dockerfile.name == dockerfile)


def app_services(app: str) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services().items()
            if (found := service_app(s)) is not None and found.name == app}


def env_files_of(service: Mapping[str, Any]) -> list[str]:
    files = service.get("env_file", [])
    return [files] if isinstance(files, str) else list(files)


def compose_env(service: Mapping[str, Any]) -> dict[str, str]:
    """What compose passes: the env files (from their examples), then ``environment``."""
    env: dict[str, str] = {}
    for file in env_files_of(service):
        env.update(read_env_file(example_of(file)).values)
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    env.update({name: str(value) for name, value in environment.items()})
    return env


def effective_env(app: App, service: Mapping[str, Any]) -> dict[str, str]:
    """The container's environment: the image's ENV, then compose's."""
    image = {k: v for k, v in dockerfile_env(app).items() if k not in PYTHON_RUNTIME}
    return {**image, **compose_env(service)}


@dataclass(frozen=True)
class Unit:
    path: Path
    service: list[tuple[str, str]]

    def values(self, key: str) -> list[str]:
        return [value for k, value in self.service if k == key]

    def one(self, key: str) -> str:
        (value,) = self.values(key)
        return value


def read_unit(name: str) -> Unit:
    path = SYSTEMD / name
    section, service = "", []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service":
            key, _, value = line.partition("=")
            service.append((key.strip(), value.strip()))
    return Unit(path, service)


def expand(value: str, unit: str, instance: str) -> str:
    """The unit specifiers these units use: %i, %d (credentials directory), %%."""
    def one(match: re.Match[str]) -> str:
        spec = match[1]
        table = {"i": instance, "d": f"/run/credentials/{unit}", "%": "%"}
        assert spec in table, f"{unit}: specifier %{spec} is not one this test knows"
        return table[spec]
    return re.sub(r"%(.)", one, value)


def unit_env(app: App, instance: str = "") -> tuple[dict[str, str], set[str]]:
    """A unit instance's environment, and the names only commented in its env files."""
    unit = read_unit(app.unit)
    name = app.unit.replace("@.", f"@{instance}.") if instance else app.unit
    env: dict[str, str] = {}
    commented: set[str] = set()
    for file in unit.values("EnvironmentFile"):
        example = read_env_file(example_of(file.lstrip("-")))
        env.update(example.values)
        commented |= example.commented
    for value in unit.values("Environment"):
        for item in shlex.split(value):
            key, sep, val = item.partition("=")
            assert sep, f"{app.unit}: Environment= takes NAME=value, got {item!r}"
            env[key] = expand(val, name, instance)
    return env, commented


def bot_replicas() -> list[str]:
    replicas = sorted(app_services("bot"))
    assert replicas, "compose.yaml runs no bot"
    return replicas


def unit_instances() -> list[str]:
    """The systemd layout runs as many bot processes as compose: fsv-bot@1 ... @N."""
    return [str(i) for i in range(1, len(bot_replicas()) + 1)]


# --- environment variables --------------------------------------------------------------

def deployment_variables(app: App) -> dict[str, set[str]]:
    """Every name the deployment sets (or documents in an example) for ``app``, and where."""
    where: dict[str, set[str]] = {}

    def add(names: Iterable[object], source: str) -> None:
        for name in names:
            where.setdefault(str(name), set()).add(source)

    add(set(dockerfile_env(app)) - PYTHON_RUNTIME, app.dockerfile.name)
    for name, service in app_services(app.name).items():
        add(service.get("environment", {}), f"compose.yaml {name}")
        for file in env_files_of(service):
            example = read_env_file(example_of(file))
            add(set(example.values) | example.commented, f"{file}.example")
    env, commented = unit_env(app, "1" if "@." in app.unit else "")
    add(set(env) | commented, app.unit)
    return where


@pytest.mark.parametrize("app", list(APPS))
def test_every_variable_the_deployment_sets_is_read_by_its_app(app: str) -> None:
    unread = {name: sorted(sources)
              for name, sources in deployment_variables(APPS[app]).items()
              if not app_reads(app, name) and name not in ANNOUNCED.get(app, set())}
    assert not unread, f"fsv-{app} reads none of these: {unread}"


# --- images -------------------------------------------------------------------------------

@pytest.mark.parametrize("app", list(APPS))
def test_images_run_unprivileged_without_dev_or_test_dependencies(app: str) -> None:
    spec = APPS[app]
    final = dockerfile_final_stage(spec.dockerfile)
    users = [rest for word, rest in final if word == "USER"]
    assert users, f"{spec.dockerfile.name} runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}, f"{spec.dockerfile.name} runs as root"
    text = re.sub(r"\\\n", " ", spec.dockerfile.read_text(encoding="utf-8"))
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs, spec.dockerfile.name
    for line in installs:
        extras = set(re.findall(r"\[([\w,-]+)\]", line))
        assert not {e for group in extras for e in group.split(",")} & {"dev", "test"}, line
        assert " -e " not in line, f"{spec.dockerfile.name}: an image needs no editable install"


# --- commands -----------------------------------------------------------------------------

def pyproject_scripts(app: App) -> dict[str, str]:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "examples" / app.name / "pyproject.toml").read_text())
    return dict(project["project"]["scripts"])


def main_script(app: App) -> str:
    """The app's serving command: the script that runs ``<package>.__main__:main``."""
    scripts = [name for name, target in pyproject_scripts(app).items()
               if target == f"{app.package}.__main__:main"]
    assert len(scripts) == 1, f"{app.name}: no single script runs {app.package}.__main__"
    return scripts[0]


@pytest.mark.parametrize("app", list(APPS))
def test_every_command_is_the_apps_installed_console_script(app: str) -> None:
    spec = APPS[app]
    script = main_script(spec)
    installed = importlib.metadata.entry_points(group="console_scripts").select(name=script)
    assert [ep.value for ep in installed] == [pyproject_scripts(spec)[script]], (
        f"{script} is not installed as in its pyproject.toml (reinstall the app)")
    assert callable(next(iter(installed)).load())
    assert (Path(sys.executable).parent / script).is_file()

    commands = {f"{spec.dockerfile.name} CMD": dockerfile_exec_form(spec, "CMD")[0]}
    for name, service in app_services(app).items():
        command = service.get("command")
        if command is not None:
            words = shlex.split(command) if isinstance(command, str) else list(command)
            commands[f"compose.yaml {name}"] = words[0]
    (exec_start,) = read_unit(spec.unit).values("ExecStart")
    commands[spec.unit] = Path(shlex.split(exec_start)[0]).name
    for where, command in commands.items():
        assert command == script, f"{where} runs {command!r}, fsv-{app}'s command is {script!r}"


# --- health checks ------------------------------------------------------------------------

_HEALTH_URL = re.compile(
    r"http://127\.0\.0\.1:\{os\.environ\.get\('(\w+)', '(\d+)'\)\}(/[\w/.-]*)\"")


@dataclass(frozen=True)
class HealthCheck:
    code: str
    port_variable: str
    default_port: int
    path: str


def health_check(app: App) -> HealthCheck:
    command = dockerfile_exec_form(app, "HEALTHCHECK")
    assert command[:2] == ["python", "-c"], f"{app.dockerfile.name}: HEALTHCHECK runs python -c"
    code = command[2]
    compile(code, f"{app.dockerfile.name} HEALTHCHECK", "exec")
    match = _HEALTH_URL.search(code)
    assert match, f"{app.dockerfile.name}: HEALTHCHECK does not fetch 127.0.0.1:<port>/<path>"
    return HealthCheck(code, match[1], int(match[2]), match[3])


def app_default_port(app: str, variable: str) -> int:
    if app == "bot":
        default = Settings.from_env({"TELEGRAM_BOT_TOKEN": "123:probe"}).metrics_port
        assert variable == "FSV_METRICS_PORT"
        assert default is not None
        return default
    settings = SETTINGS[app]
    prefix = str(settings.model_config.get("env_prefix", ""))
    return int(settings.model_fields[variable.removeprefix(prefix).lower()].default)


def serves_get(app: str, path: str) -> bool:
    """The app routes ``GET path`` to a handler (asked the way Starlette dispatches)."""
    asgi = create_api(ApiSettings()) if app == "api" else create_dashboard(DashboardSettings())
    scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
    return any(route.matches(scope)[0] is Match.FULL for route in asgi.router.routes)


@pytest.mark.parametrize("app", list(APPS))
def test_health_checks_use_the_apps_port_and_a_route_it_serves(app: str) -> None:
    check = health_check(APPS[app])
    assert app_reads(app, check.port_variable), check.port_variable
    assert check.default_port == app_default_port(app, check.port_variable)
    if app != "bot":  # the bot's is served for real below
        assert serves_get(app, check.path), f"fsv-{app} has no GET {check.path}"
    for name, service in app_services(app).items():
        assert "healthcheck" not in service, f"compose.yaml {name}: use the image's HEALTHCHECK"


@pytest.mark.anyio
@pytest.mark.parametrize("healthy", [True, False])
async def test_the_bot_health_check_passes_exactly_when_the_bot_is_healthy(
        healthy: bool) -> None:
    check = health_check(APPS["bot"])
    server = MetricsServer(Metrics(), lambda: (healthy, {}), host="127.0.0.1", port=0)
    await server.start()
    try:
        env = {**os.environ, check.port_variable: str(server.port)}
        done = await anyio.run_process([sys.executable, "-c", check.code], env=env, check=False)
    finally:
        await server.stop()
    assert (done.returncode == 0) is healthy, done.stderr.decode()


# --- nginx ---------------------------------------------------------------------------------

def nginx_text(path: Path) -> str:
    return re.sub(r"#[^\n]*", "", path.read_text(encoding="utf-8"))


def upstreams(path: Path) -> dict[str, set[str]]:
    found = {}
    for name, body in re.findall(r"upstream\s+(\w+)\s*\{(.*?)\}", nginx_text(path), re.S):
        found[name] = set(re.findall(r"^\s*server\s+([^\s;]+)", body, re.M))
    return found


def proxied_locations(path: Path) -> list[tuple[str, str]]:
    """``(location, upstream)``: ``= /exact`` or ``/prefix`` and the upstream it proxies to."""
    found = []
    for exact, where, body in re.findall(r"location\s+(=\s*)?(\S+)\s*\{(.*?)\}",
                                         nginx_text(path), re.S):
        target = re.search(r"proxy_pass\s+http://(\w+)\s*;", body)
        if target:
            found.append((f"= {where}" if exact else where, target[1]))
    return found


def check_nginx(path: Path, *, bots: set[str], webhook_path: str, api: str,
                dashboard: str) -> None:
    found = upstreams(path)
    assert found.get("fsv_bot") == bots, f"{path.name}: bot upstream is not the replicas"
    assert found.get("fsv_api") == {api}, f"{path.name}: API upstream"
    assert found.get("fsv_dashboard") == {dashboard}, f"{path.name}: dashboard upstream"
    locations = proxied_locations(path)
    assert [loc for loc, up in locations if up == "fsv_bot"] == [f"= {webhook_path}"], (
        f"{path.name}: the bots must get exactly the webhook path {webhook_path}")
    assert {up for _, up in locations} == set(found), f"{path.name}: an upstream is not used"


def test_compose_nginx_sends_the_webhook_to_every_bot_replica() -> None:
    bot = APPS["bot"]
    replicas = {name: Settings.from_env(effective_env(bot, service))
                for name, service in app_services("bot").items()}
    paths = set()
    for name, settings in replicas.items():
        assert settings.mode == "webhook", name
        assert settings.webhook_listen == "0.0.0.0", f"{name}: nginx cannot reach loopback"
        assert settings.metrics_host == "0.0.0.0", f"{name}: Prometheus cannot scrape loopback"
        assert settings.webhook_url is not None
        paths.add(urlparse(settings.webhook_url).path)
    assert len(paths) == 1, "every replica must serve the same webhook URL"

    (api_name, api_service), = app_services("api").items()
    (dash_name, dash_service), = app_services("dashboard").items()
    api = ApiSettings.from_env(effective_env(APPS["api"], api_service))
    dash = DashboardSettings.from_env(effective_env(APPS["dashboard"], dash_service))
    for settings in (api, dash):
        assert settings.host == "0.0.0.0"
        assert settings.trust_forwarded, "behind nginx the client IP is X-Forwarded-For's"

    (nginx,) = [s for s in services().values() if str(s.get("image", "")).startswith("nginx")]
    mounts = [str(v).split(":") for v in nginx.get("volumes", [])]
    conf = [Path(source) for source, target, *_ in mounts
            if target.startswith("/etc/nginx/conf.d/")]
    assert [DEPLOY / p for p in conf] == [DEPLOY / "nginx.conf"]
    assert set(nginx.get("depends_on", [])) == {*replicas, api_name, dash_name}
    check_nginx(DEPLOY / "nginx.conf",
                bots={f"{name}:{s.webhook_port}" for name, s in replicas.items()},
                webhook_path=paths.pop(), api=f"{api_name}:{api.port}",
                dashboard=f"{dash_name}:{dash.port}")


def test_systemd_nginx_site_sends_the_webhook_to_every_bot_instance() -> None:
    instances = {}
    for i in unit_instances():
        env, _ = unit_env(APPS["bot"], i)
        instances[i] = Settings.from_env(env)
    for i, settings in instances.items():
        assert settings.mode == "webhook", i
        assert settings.webhook_listen == "127.0.0.1", f"fsv-bot@{i}: only nginx reaches it"
    assert len({s.webhook_port for s in instances.values()}) == len(instances)
    assert len({s.metrics_port for s in instances.values()}) == len(instances)
    (webhook_path,) = {urlparse(s.webhook_url or "").path for s in instances.values()}

    api = ApiSettings.from_env(unit_env(APPS["api"])[0])
    dash = DashboardSettings.from_env(unit_env(APPS["dashboard"])[0])
    assert api.host == dash.host == "127.0.0.1"
    check_nginx(SYSTEMD / "fsv.nginx.conf",
                bots={f"127.0.0.1:{s.webhook_port}" for s in instances.values()},
                webhook_path=webhook_path, api=f"127.0.0.1:{api.port}",
                dashboard=f"127.0.0.1:{dash.port}")


# --- compose, structurally -----------------------------------------------------------------

def test_each_bot_replica_spools_to_a_volume_of_its_own() -> None:
    bot = APPS["bot"]
    volumes = []
    for name, service in app_services("bot").items():
        spool = Settings.from_env(effective_env(bot, service)).event_spool
        assert spool is not None, f"{name}: events would be lost on a crash"
        mounted = [str(v).split(":")[0] for v in service.get("volumes", [])
                   if str(v).split(":")[1] == str(Path(spool).parent)]
        assert len(mounted) == 1, f"{name}: no volume at {Path(spool).parent}"
        volumes.append(mounted[0])
    assert len(set(volumes)) == len(volumes), "two replicas would share one spool"
    assert set(volumes) <= set(compose().get("volumes", {}))


def test_compose_wires_credentials_redis_and_images() -> None:
    everything = services()
    secrets = set(compose().get("secrets", {}))
    redis = {name for name, s in everything.items()
             if str(s.get("image", "")).startswith("redis")}
    assert redis, "compose.yaml runs no Redis"
    assert not [n for n, s in everything.items() if "postgres" in str(s.get("image", ""))]
    for name, service in everything.items():
        assert service.get("image"), f"{name} has no image"
        depends = service.get("depends_on", [])
        assert set(depends) <= set(everything), f"{name} depends on an unknown service"
        app = service_app(service)
        if app is None:
            continue
        assert (COMPOSE.parent / service["build"]["context"]).resolve() == ROOT
        assert (ROOT / service["build"]["dockerfile"]).resolve() == app.dockerfile
        assert "ports" not in service, f"{name}: only nginx is published"
        used = set(service.get("secrets", []))
        assert used <= secrets, f"{name} uses an undefined secret"
        env = compose_env(service)
        key = env.get("GOOGLE_APPLICATION_CREDENTIALS")
        assert key in {f"/run/secrets/{s}" for s in used}, f"{name}: no mounted Firebase key"
        for variable, value in env.items():
            if value.startswith("redis://"):
                assert urlparse(value).hostname in redis, f"{name} {variable}: not our Redis"


def test_units_wire_credentials_users_and_state() -> None:
    for app in APPS.values():
        unit = read_unit(app.unit)
        assert unit.one("User") == "fsv"
        credentials = {c.split(":", 1)[0] for c in unit.values("LoadCredential")}
        env, _ = unit_env(app, "1" if "@." in app.unit else "")
        name = app.unit.replace("@.", "@1.")
        assert env["GOOGLE_APPLICATION_CREDENTIALS"] in {
            f"/run/credentials/{name}/{c}" for c in credentials}
        assert unit.one("RestartPreventExitStatus") == "2", "exit 2 is a configuration error"
    bot = read_unit(APPS["bot"].unit)
    for i in unit_instances():
        spool = Settings.from_env(unit_env(APPS["bot"], i)[0]).event_spool
        state = Path("/var/lib") / expand(bot.one("StateDirectory"), "fsv-bot", i)
        assert spool is not None
        assert Path(spool).parent == state, f"fsv-bot@{i}: the spool is outside its state dir"


# --- the tools' own validation --------------------------------------------------------------

def compose_tool() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 check=False).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.fixture
def deploy_copy(tmp_path: Path) -> Path:
    """``deploy/`` as an operator has it: env files written, the key in place."""
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    for example in copy.glob("*.env.example"):
        shutil.copy(example, example.with_suffix(""))
    for secret in compose().get("secrets", {}).values():
        key = copy / secret["file"]
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_text("{}")
    return copy


def test_compose_file_passes_docker_compose_config(deploy_copy: Path) -> None:
    tool = compose_tool()
    if tool is None:
        require_or_skip("neither `docker compose` nor `docker-compose` is installed")
    assert tool is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    done = subprocess.run([*tool, "-f", str(deploy_copy / "compose.yaml"), "config"],
                          cwd=deploy_copy, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert set(resolved["services"]) == set(services())
    for name, service in services().items():
        if service_app(service) is None:
            continue
        got = resolved["services"][name].get("environment", {})
        assert {k: str(v) for k, v in got.items()} == compose_env(service), (
            f"{name}: compose resolves another environment than this test reads")


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        require_or_skip("systemd-analyze is not installed")
    assert analyze is not None
    names = []
    for app in APPS.values():
        unit = SYSTEMD / app.unit
        (exec_start,) = read_unit(app.unit).values("ExecStart")
        # verify insists the command exists: point it at this environment's scripts.
        installed = Path(sys.executable).parent / Path(exec_start).name
        text = unit.read_text(encoding="utf-8").replace(exec_start, str(installed))
        (tmp_path / app.unit).write_text(text, encoding="utf-8")
        names.append(str(tmp_path / app.unit.replace("@.", "@1.")))
    done = subprocess.run([analyze, "verify", *names], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
