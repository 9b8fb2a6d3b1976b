"""Operations: liveness, readiness (every service SERVING) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.clients import ServiceClients
from gateway.dependencies import problem_responses
from gateway.problems import problem

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The gateway process is alive (it does not ask the services)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None, responses=problem_responses(503))
async def readyz(request: Request) -> JSONResponse:
    """200 when all four services report SERVING, else 503 naming each one's status."""
    clients: ServiceClients = request.app.state.clients
    statuses = await clients.health()
    if all(status == "SERVING" for status in statuses.values()):
        return JSONResponse({"status": "ready", "services": statuses})
    down = ", ".join(f"{name} is {status}" for name, status in statuses.items() if status != "SERVING")
    return problem(503, f"not ready: {down}", services=statuses)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
