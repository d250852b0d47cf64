# syntax=docker/dockerfile:1
# fsv-dashboard, the reference live admin dashboard. Build from the repository root:
#   docker build -f deploy/dashboard.Dockerfile -t fsv-dashboard .
# Settings are FSV_DASHBOARD_* variables (examples/dashboard/fsv_dashboard/settings.py);
# Firebase credentials are the library's (docs/deploy.md).

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/fsv
COPY pyproject.toml README.md LICENSE /src/
COPY firestore_verify /src/firestore_verify
COPY examples/dashboard /src/examples/dashboard
RUN /opt/fsv/bin/pip install /src /src/examples/dashboard

FROM python:3.11-slim-bookworm
ENV PATH=/opt/fsv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --user-group --no-create-home fsv
COPY --from=build /opt/fsv /opt/fsv
USER fsv
ENV FSV_DASHBOARD_HOST=0.0.0.0
EXPOSE 8001
# The dashboard has no /health route: the sign-in page answers 200 without a session
# and without reading Firestore, so it shows the process serves requests.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('FSV_DASHBOARD_PORT', '8001')}/login\", timeout=4)"]
CMD ["fsv-dashboard"]
