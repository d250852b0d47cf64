# syntax=docker/dockerfile:1
# fsv-api, the reference admin API. Build from the repository root:
#   docker build -f deploy/api.Dockerfile -t fsv-api .
# Settings are FSV_API_* variables (examples/api/fsv_api/settings.py); Firebase
# credentials are the library's (docs/deploy.md).

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/fsv
COPY pyproject.toml README.md LICENSE /src/
COPY firestore_verify /src/firestore_verify
COPY examples/api /src/examples/api
# The redis extra: rate-limit counters shared by every API process (FSV_API_REDIS_URL).
RUN /opt/fsv/bin/pip install /src '/src/examples/api[redis]'

FROM python:3.11-slim-bookworm
ENV PATH=/opt/fsv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --user-group --no-create-home fsv
COPY --from=build /opt/fsv /opt/fsv
USER fsv
ENV FSV_API_HOST=0.0.0.0
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('FSV_API_PORT', '8000')}/health\", timeout=4)"]
CMD ["fsv-api"]
