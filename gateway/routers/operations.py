"""Operations: liveness, readiness (every service SERVING) and Prometheus metrics.

``router`` (the probes) is served on the API's port always; ``metrics_router`` there too unless
``PATRON_GATEWAY_OPERATIONS_PORT`` moves it, with the API's documents, to a port of its own
(``operations_app``), so that only the cluster reaches them."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.clients import ServiceClients
from gateway.dependencies import problem_responses
from gateway.docs_page import install_docs
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


metrics_router = APIRouter(tags=["operations"])


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def operations_app(api: FastAPI) -> FastAPI:
    """The operations port's app: the probes, ``/metrics``, and the API's own OpenAPI document and
    Swagger page. It shares the API app's state (its service clients), opened by the API's lifespan."""
    app = FastAPI(title="Patron operations", docs_url=None, redoc_url=None, openapi_url=None)
    app.state = api.state
    app.include_router(router)
    app.include_router(metrics_router)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_document() -> JSONResponse:
        return JSONResponse(api.openapi())

    install_docs(app, "/openapi.json", "Patron API")
    return app
