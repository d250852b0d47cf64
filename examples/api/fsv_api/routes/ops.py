"""``/health``, ``/ready`` and ``/metrics``: for load balancers and Prometheus (no auth)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

import firestore_verify as fv
from fsv_api.schemas import Health, Ready
from fsv_api.services import Services, services

router = APIRouter(tags=["operations"])
#: How long each readiness check may take.
CHECK_SECONDS = 5.0


@router.get("/health", response_model=Health)
async def health() -> Health:
    """The process is up (no dependency is checked)."""
    return Health()


async def _check(call: object) -> str:
    try:
        with anyio.fail_after(CHECK_SECONDS):
            await call  # type: ignore[misc]
    except TimeoutError:
        return f"no answer within {CHECK_SECONDS:g} s"
    except fv.FirestoreVerifyError as exc:
        return str(exc)
    except Exception as exc:  # a readiness probe reports, it never fails
        return f"{type(exc).__name__}: {exc}"
    return "ok"


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready}})
async def ready(svc: Services = Depends(services)) -> JSONResponse:
    """Firestore and Firebase Auth both answer (503 with what failed otherwise)."""
    firestore = await _check(svc.store.stats.get())
    auth = await _check(svc.auth.check())
    ok = firestore == auth == "ok"
    body = Ready(status="ready" if ok else "unavailable", firestore=firestore, auth=auth)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text."}})
async def metrics(svc: Services = Depends(services)) -> Response:
    """Prometheus metrics: request latency by route, open streams, listeners."""
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4")
