# syntax=docker/dockerfile:1
# fsv-bot, the reference force-subscribe bot. Build from the repository root:
#   docker build -f deploy/bot.Dockerfile -t fsv-bot .
# Settings are the bot's environment variables (examples/bot/fsv_bot/config.py);
# Firebase credentials are the library's (docs/deploy.md).

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/fsv
# Only what the two packages need: the library, then the app (no tests, no dev extras).
COPY pyproject.toml README.md LICENSE /src/
COPY firestore_verify /src/firestore_verify
COPY examples/bot /src/examples/bot
RUN /opt/fsv/bin/pip install '/src[redis]' '/src/examples/bot[redis]'

FROM python:3.11-slim-bookworm
ENV PATH=/opt/fsv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/fsv-bot fsv
COPY --from=build /opt/fsv /opt/fsv
USER fsv
WORKDIR /var/lib/fsv-bot
# Inside a container the webhook and /metrics must listen beyond loopback. The spool
# keeps accepted events across a crash: mount a volume of its own per replica here.
ENV FSV_WEBHOOK_LISTEN=0.0.0.0 \
    FSV_METRICS_HOST=0.0.0.0 \
    FSV_EVENT_SPOOL=/var/lib/fsv-bot/events.spool
EXPOSE 8443 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('FSV_METRICS_PORT', '9090')}/health\", timeout=4)"]
CMD ["fsv-bot"]
