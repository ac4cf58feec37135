"""The REST API (FastAPI): ``create_app(settings)``.

Endpoints
---------
``GET /healthz``          liveness and what is loaded (no auth).
``GET /v1/models``        the model cards of the loaded components.
``POST /v1/similar``      multipart field ``file`` → the ``k`` most similar indexed films (409 when the server
                          runs without an index: ``CXRKIT_INDEX`` / ``serve --index``); see ``similar_api``.
``POST /v1/analyze``      multipart field ``file`` (DICOM/PNG/JPEG) → the ``result.json`` document
                          (schema ``cxrkit.result/1``); ``?include=image,heatmaps,masks,overlay`` adds an
                          ``overlays`` object of PNG data URIs for the web viewer.
``GET /``                 the web viewer; ``/docs`` the OpenAPI documentation.

Client mistakes get 4xx with a message, never 500: 401 missing/invalid token, 408 upload too slow,
413 upload too big, 415 not a readable image, 422 not a frontal chest radiograph (other modality, lateral view,
not a chest image; the body holds the quality check's reasons and the result document), and 422 with the
exception's type name and a request id when analysing one upload fails in any other way. 503 when more than
``settings.max_queued`` analyses are waiting.

The bearer token is checked by :class:`AuthMiddleware` from the request head alone, before any byte of the body
is read. The uploaded file name is never echoed (``image.source`` is empty) and log lines carry request ids and
exception type names only, never file names or header values.

Models are loaded once at startup; inference runs in worker threads (at most
``settings.inference_threads`` at a time) so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import uuid
from contextlib import asynccontextmanager
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import anyio
import numpy as np
from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from cxrkit import __version__
from cxrkit.deliver.png import png_bytes
from cxrkit.errors import InvalidImageError, NotAChestXrayError, UnsupportedImageError
from cxrkit.pipeline import Analyzer
from cxrkit.report.overlay import compose_overlay, gray_to_rgb, heatmap_rgba, mask_rgba
from cxrkit.result import AnalysisResult, box_id
from cxrkit.service.api_models import ANALYZE_RESPONSES, HealthDoc
from cxrkit.service.settings import Settings
from cxrkit.service.similar_api import Retrieval, add_similar_route, load_retrieval
from cxrkit.types import Image
from cxrkit.views import VIEW_OPTIONS

__all__ = ["create_app", "INCLUDE_OPTIONS"]

log = logging.getLogger(__name__)

INCLUDE_OPTIONS = ("image", "heatmaps", "masks", "overlay")
_bearer = HTTPBearer(auto_error=False, description="set CXRKIT_API_TOKEN on the server to require it")


class UploadGuardMiddleware:
    """Guard request bodies: 413 above ``max_bytes`` (from Content-Length before reading, or while
    streaming), 408 when the client pauses longer than ``read_timeout_s`` between body chunks or takes
    longer than ``body_timeout_s`` for the whole body (slowloris-style uploads).

    Errors found while streaming surface as HTTP exceptions raised from ``receive`` inside the endpoint's
    body parsing, which FastAPI re-raises and the exception handler turns into a JSON response.
    """

    def __init__(self, app, max_bytes: int, read_timeout_s: float, body_timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_s = read_timeout_s
        self.body_timeout_s = body_timeout_s

    def _too_large(self) -> str:
        return f"upload too large: the limit is {self.max_bytes / 2**20:g} MB (CXRKIT_MAX_UPLOAD_MB)"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            log.info("request rejected: 413 declared body of %s bytes", int(length))
            response = JSONResponse({"detail": self._too_large()}, status_code=413, headers={"Connection": "close"})
            return await response(scope, receive, send)
        loop = asyncio.get_running_loop()
        received = 0
        deadline = loop.time() + self.body_timeout_s
        body_done = False

        async def timed_receive():
            nonlocal body_done, received
            if body_done:
                return await receive()
            timeout = min(self.read_timeout_s, max(0.0, deadline - loop.time()))
            try:
                message = await asyncio.wait_for(receive(), timeout)
            except TimeoutError:
                log.info("request body too slow: aborted with 408")
                raise StarletteHTTPException(
                    408,
                    f"request body not received in time (a pause over {self.read_timeout_s:g} s or more than "
                    f"{self.body_timeout_s:g} s in total)",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    log.info("request rejected: 413 streamed body over the limit")
                    raise StarletteHTTPException(413, self._too_large(), headers={"Connection": "close"})
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, timed_receive, send)


class AuthMiddleware:
    """401 for ``/v1/*`` requests without the right bearer token, decided on the request head alone (the body is
    never read: a client without the token cannot make the server read and parse an upload).

    ``hmac.compare_digest`` on the UTF-8 bytes; no token configured means open.
    """

    def __init__(self, app, token: str | None, prefix: str = "/v1/") -> None:
        self.app = app
        self.token = token.encode("utf-8") if token else None
        self.prefix = prefix

    async def __call__(self, scope, receive, send):
        if self.token is None or scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            return await self.app(scope, receive, send)
        auth = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, given = auth.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token):
            return await self.app(scope, receive, send)
        log.info("rejected request: %s bearer token", "missing" if not auth else "invalid")
        response = JSONResponse({"detail": "missing or invalid bearer token"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer", "Connection": "close"})
        await response(scope, receive, send)


class QueueLimitMiddleware:
    """503 (``Retry-After: 5``) for ``POST /v1/analyze`` when ``limit`` analyses are already in progress or
    waiting, so queued uploads (each up to the upload limit) cannot pile up without bound."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.active = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") != "/v1/analyze" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        if self.active >= self.limit:
            log.info("request rejected: 503, %d analyses in progress or queued", self.active)
            response = JSONResponse({"detail": f"busy: {self.active} analyses in progress or queued; retry later"},
                                    status_code=503, headers={"Retry-After": "5", "Connection": "close"})
            return await response(scope, receive, send)
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


def _data_uri(array: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(array)).decode("ascii")


def overlays_for(result: AnalysisResult, image: Image, include: set[str]) -> dict[str, Any]:
    """PNG data URIs for the viewer: the radiograph as displayed, one transparent layer per heatmap and mask,
    and the combined overlay."""
    out: dict[str, Any] = {}
    if "image" in include:
        out["image"] = _data_uri(image.to_uint8())
    if "heatmaps" in include:
        out["heatmaps"] = {k: _data_uri(heatmap_rgba(v)) for k, v in result.heatmaps.items()}
    if "masks" in include:
        out["masks"] = {k: _data_uri(mask_rgba({k: v}, alpha=110)) for k, v in result.masks.items()}
        anatomy = result.anatomy or {}
        out["ctr_lines"] = {k: anatomy[k] for k in ("heart_line", "thorax_line") if anatomy.get(k)}
    if "overlay" in include:
        boxes = [(box_id(f.name, i), b) for f in result.findings for i, b in enumerate(f.boxes)]
        out["overlay"] = _data_uri(compose_overlay(image.pixels, heatmaps=result.heatmaps, boxes=boxes,
                                                   masks=result.masks) if result.heatmaps or boxes or result.masks
                                   else gray_to_rgb(image.pixels))
    return out


def _web_dir() -> Path:
    return Path(str(resources.files("cxrkit").joinpath("service/web")))


def create_app(settings: Settings | None = None, *, analyzer: Analyzer | None = None,
               retrieval: Retrieval | None = None) -> FastAPI:
    """Build the FastAPI application.

    Parameters
    ----------
    settings:
        service settings (default: :meth:`Settings.from_env`).
    analyzer:
        a loaded pipeline to serve (default: the shipped components, loaded once at startup).
    retrieval:
        a loaded similar-case index for ``POST /v1/similar`` (default: ``settings.index`` if set, else none).
    """
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if getattr(app.state, "analyzer", None) is None:
            app.state.analyzer = await anyio.to_thread.run_sync(
                lambda: Analyzer(classifier=settings.classifier or "default",
                                 segmenter=(settings.segmenter or "default") if settings.segment else None,
                                 localize=settings.localize, max_pixels=settings.max_pixels)
            )
            seconds = await anyio.to_thread.run_sync(app.state.analyzer.warm_up)
            log.info("models loaded and warmed up (%.1f s)", seconds)
        app.state.limiter = anyio.CapacityLimiter(settings.inference_threads)
        if getattr(app.state, "retrieval", None) is None and settings.index:
            app.state.retrieval = await anyio.to_thread.run_sync(load_retrieval, settings.index, settings.classifier)
        log.info("cxrkit API ready: %s", app.state.analyzer.describe())
        yield

    app = FastAPI(
        title="cxrkit API",
        version=__version__,
        description="Chest X-ray analysis: findings with probabilities at validated operating points, boxes, "
        "cardiothoracic ratio and a draft report. Research software: **not a diagnosis**.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.analyzer = analyzer
    app.state.retrieval = retrieval
    app.add_middleware(UploadGuardMiddleware, max_bytes=settings.max_upload_bytes,
                       read_timeout_s=settings.read_timeout_s, body_timeout_s=settings.body_timeout_s)
    app.add_middleware(QueueLimitMiddleware, limit=settings.max_queued)
    app.add_middleware(AuthMiddleware, token=settings.api_token)  # added last = outermost: runs first

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    async def require_token(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        # AuthMiddleware already refused wrong tokens before the body; this keeps the scheme in the OpenAPI docs
        if not settings.api_token:
            return
        given = creds.credentials if creds is not None else ""
        if not hmac.compare_digest(given.encode("utf-8"), settings.api_token.encode("utf-8")):
            log.info("rejected request: %s bearer token", "missing" if not given else "invalid")
            raise HTTPException(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})

    _add_info_routes(app, require_token)
    _add_analyze_route(app, settings, require_token)
    add_similar_route(app, require_token)

    web = _web_dir()
    if (web / "index.html").is_file():
        app.mount("/static", StaticFiles(directory=web), name="static")

        @app.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            return FileResponse(web / "index.html")

    return app


def _add_info_routes(app: FastAPI, require_token: Any) -> None:
    """``GET /healthz`` and ``GET /v1/models``."""

    @app.get("/healthz", tags=["service"])
    async def healthz(request: Request) -> HealthDoc:
        """Liveness: the service is up and which components are loaded."""
        a: Analyzer = request.app.state.analyzer
        return HealthDoc(status="ok", version=__version__, classifier=a.classifier is not None,
                         segmenter=a.segmenter is not None)

    @app.get("/v1/models", tags=["models"], dependencies=[Depends(require_token)])
    async def models(request: Request) -> dict[str, Any]:
        """Model cards of the loaded components (only validated findings are reported)."""
        a: Analyzer = request.app.state.analyzer
        out: dict[str, Any] = a.describe()
        for key, component in (("classifier_card", a.classifier), ("segmenter_card", a.segmenter)):
            card = _card_dict(getattr(component, "card", None))
            if card is not None:
                out[key] = card
        return out


def _add_analyze_route(app: FastAPI, settings: Settings, require_token: Any) -> None:
    """``POST /v1/analyze``: one upload, analysed in a worker thread under the inference limiter."""

    @app.post("/v1/analyze", tags=["analyze"], dependencies=[Depends(require_token)], responses=ANALYZE_RESPONSES)
    async def analyze_upload(
        request: Request,
        file: Annotated[UploadFile, File(description="a DICOM, PNG or JPEG chest radiograph")],
        include: Annotated[str, Query(description="comma-separated: image, heatmaps, masks, overlay")] = "",
        view: Annotated[str | None, Query(description="view position when the file has none (PNG/JPEG): PA, AP, "
                                                      "AP SUPINE, LATERAL")] = None,
    ) -> JSONResponse:
        """Analyze one radiograph; returns the ``result.json`` document (schema ``cxrkit.result/1``)."""
        wanted = {s.strip() for s in include.split(",") if s.strip()}
        unknown = wanted - set(INCLUDE_OPTIONS)
        if unknown:
            raise HTTPException(400, f"unknown include option(s) {sorted(unknown)}; options: {', '.join(INCLUDE_OPTIONS)}")
        if view is not None and view.strip().upper() not in VIEW_OPTIONS:
            raise HTTPException(400, f"unknown view {view!r}; options: {', '.join(VIEW_OPTIONS)}")
        data = await file.read()
        request_id = uuid.uuid4().hex[:12]
        if not data:
            raise HTTPException(415, "empty upload: expected a DICOM, PNG or JPEG file in the multipart field 'file'")
        a: Analyzer = request.app.state.analyzer
        view_tag = view.strip().upper() if view else None

        def work():
            from cxrkit.pipeline import read_input

            image = read_input(data, max_pixels=settings.max_pixels)
            image = Image(image.pixels, replace(image.meta, source=""))  # the upload's name is never echoed
            result, shown = a.analyze_with_image(image, view=view_tag) if view_tag else a.analyze_with_image(image)
            doc = result.to_dict()
            if result.quality.usable:
                if wanted:
                    doc["overlays"] = overlays_for(result, shown if shown is not None else image, wanted)
                response = JSONResponse(doc, headers={"X-Request-ID": request_id})  # renders here: NaN raises
            else:
                response = JSONResponse(
                    {"detail": "not a frontal chest radiograph: " + "; ".join(result.quality.reasons),
                     "quality": doc["quality"], "result": doc},
                    status_code=422, headers={"X-Request-ID": request_id})
            return result, response

        try:
            result, response = await anyio.to_thread.run_sync(work, limiter=request.app.state.limiter)
        except InvalidImageError as exc:
            log.info("request %s: 415 not a readable image (%s)", request_id, type(exc).__name__)
            raise HTTPException(415, f"not a readable image: {_strip(exc)}") from None
        except (UnsupportedImageError, NotAChestXrayError) as exc:
            log.info("request %s: 422 unsupported image", request_id)
            raise HTTPException(422, f"not a chest radiograph cxrkit can analyze: {_strip(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - one upload's failure is its own 4xx, never a 500
            log.warning("request %s: 422 analysis failed: %s", request_id, type(exc).__name__)
            log.debug("request %s failed", request_id, exc_info=True)
            return JSONResponse(
                {"detail": f"this image could not be analyzed ({type(exc).__name__}); quote request id "
                           f"{request_id} when reporting it", "request_id": request_id},
                status_code=422, headers={"X-Request-ID": request_id})
        if not result.quality.usable:
            log.info("request %s: 422 quality check failed", request_id)
        else:
            log.info("request %s: analyzed in %.0f ms", request_id, result.timings_ms.get("total", 0.0))
        return response


def _card_dict(card: Any) -> dict[str, Any] | None:
    """A model card as JSON-ready data (``to_dict()``, ``to_json()`` or a dataclass), or None."""
    import dataclasses
    import json

    if card is None:
        return None
    if hasattr(card, "to_dict"):
        data = card.to_dict()
    elif hasattr(card, "to_json"):
        data = json.loads(card.to_json())
    elif dataclasses.is_dataclass(card) and not isinstance(card, type):
        data = dataclasses.asdict(card)
    else:
        return None
    return json.loads(json.dumps(data, default=str))


def _strip(exc: Exception) -> str:
    """Error text without the reader's ``<bytes>:`` source prefix."""
    text = str(exc)
    return text[len("<bytes>: "):] if text.startswith("<bytes>: ") else text
