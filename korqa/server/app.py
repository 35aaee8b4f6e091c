"""The HTTP edge: FastAPI routes over a QAEngine.

    create_app(engine, ServeConfig()) -> FastAPI

A request is checked against the limits (`Service.check`), its questions are queued for the model thread
(`Service.run`, korqa.batcher), and the answers are written in the route's response body. Every failure is a JSON
body `{"error": <kind>, "detail": <what is wrong>}` with the status from one table, `ERRORS`: the client's mistakes
are 4xx, the server's own faults 500 (logged with the request id that the body also carries).

Routes: GET / (web page), POST /api (the nlpbook service's contract), POST /v1/answer, POST /v1/answer/batch,
GET /healthz, GET /readyz, GET /v1/model, GET /metrics, OpenAPI at /docs.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from korqa import __version__
from korqa.batcher import Batcher, DeadlineExceeded, QueueFull, ShuttingDown
from korqa.config import ServeConfig
from korqa.engine import QAEngine, QAResult, Question, as_question
from korqa.errors import InputError, KorqaError, LimitError
from korqa.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from korqa.metrics import serving_registry
from korqa.normalize import has_visible
from korqa.server.schemas import (
    AnswerOut,
    AnswerRequest,
    AnswerResponse,
    BatchRequest,
    BatchResponse,
    BatchResult,
    ErrorBody,
    HFAnswer,
    HFRequest,
    QuestionIn,
    SeedRequest,
    SeedResponse,
)

log = logging.getLogger(__name__)
access_log = logging.getLogger("korqa.access")
STATIC = Path(__file__).resolve().parent / "static"


def swagger_ui_assets() -> Path:
    """Swagger UI 5 (reads OpenAPI 3.1) from the fastapi-offline package: /docs needs no CDN."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


# Error kind -> status: the first row whose type matches wins (subclasses before their bases).
ERRORS: list[tuple[type[Exception], int, str]] = [
    (LimitError, 413, "limit"),  # over a ServeConfig limit; the body names it
    (InputError, 422, "invalid_input"),  # empty question or passage, bad Unicode, bad option
    (QueueFull, 503, "busy"),  # too many waiting requests; Retry-After says when to come back
    (ShuttingDown, 503, "shutting_down"),  # SIGTERM: not taken, or not finished within shutdown_timeout
    (DeadlineExceeded, 504, "timeout"),  # no answer within request_timeout; its remaining work was dropped
    (ClientGone, 499, "client_closed"),  # nobody reads this one; it ends the request's bookkeeping
    (KorqaError, 500, "internal"),  # any other korqa error on a request is the server's fault, not the client's
]
HTTP_KINDS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 408: "timeout", 413: "limit"}


def error(status: int, kind: str, detail: str, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"error": kind, "detail": detail, **extra}, status_code=status, headers=headers)


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", None) or "-"


def classify(exc: Exception) -> tuple[int, str]:
    """Status and kind of `exc` from the table; anything not in it is a server fault (500)."""
    return next(((status, kind) for kind_of, status, kind in ERRORS if isinstance(exc, kind_of)), (500, "internal"))


EXPECTED_5XX = (QueueFull, ShuttingDown, DeadlineExceeded)  # the server's state, not a fault: said as it is


def error_response(request: Request, exc: Exception) -> JSONResponse:
    status, kind = classify(exc)
    if status >= 500 and not isinstance(exc, EXPECTED_5XX):
        rid = request_id(request)
        log.error("request %s: %s on %s: %s", rid, type(exc).__name__, request.url.path, exc, exc_info=exc)
        return error(status, kind, "internal error; the server logged it", request_id=rid)
    headers = {"Retry-After": "1"} if status == 503 else None
    detail = f"{exc}; try again shortly" if isinstance(exc, QueueFull) else str(exc)
    extra = {"limit": exc.limit} if isinstance(exc, LimitError) else {}
    return error(status, kind, detail, headers, **extra)


def validation_response(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for e in exc.errors():
        if e.get("type") == "json_invalid":
            problems.append(f"body is not valid JSON ({e.get('ctx', {}).get('error', 'parse error')})")
            continue
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {e.get('msg')}")
    return error(422, "invalid_request", "; ".join(problems) or "invalid request")


def http_response(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":  # FastAPI's words for a
        # body that is not UTF-8 or nests deeper than the parser goes: malformed JSON, as every other (422)
        return error(422, "invalid_request", "body is not valid JSON (it must be UTF-8 text, not nested too deeply)")
    kind = HTTP_KINDS.get(exc.status_code, "http_error")
    return error(exc.status_code, kind, str(exc.detail), headers=getattr(exc, "headers", None))


# -- middleware ----------------------------------------------------------------------------------------------------


# On every response: the page and /docs load only from this server, nothing may frame them, no MIME sniffing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
BODY_METHODS = {"POST", "PUT", "PATCH"}


def host_name(header: str) -> str:
    """`example.org:8000` -> `example.org`, `[::1]:8000` -> `::1`."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def is_json(content_type: bytes | None) -> bool:
    media = (content_type or b"").split(b";")[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


class Guard:
    """Every request: an id (the client's X-Request-ID if sane, else new; returned in the response and named in
    the server's error logs), security headers on the response, a Host allow-list (DNS rebinding), JSON bodies
    only (415), and any unhandled error as a 500 JSON body -- so no response leaves without these headers."""

    def __init__(self, app, hosts: tuple[str, ...], api_keys: tuple[str, ...] = ()):
        self.app = app
        self.hosts = None if "*" in hosts else {h.lower().strip("[]") for h in hosts}
        self.keys = [key.encode() for key in api_keys]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if given and len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = [(b"x-request-id", rid.encode("latin-1")), *SECURITY_HEADERS]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        host = host_name(headers.get(b"host", b"").decode("latin-1")).lower()
        if self.hosts is not None and host not in self.hosts:
            detail = f"Host {host!r} is not served here (allowed: {', '.join(sorted(self.hosts))}; see --allowed-hosts)"
            return await error(400, "bad_host", detail)(scope, receive, send_with_headers)
        if self.keys and needs_key(scope) and not self.authorized(headers.get(b"authorization", b"")):
            detail = "this server needs an API key: send the header Authorization: Bearer KEY"
            reply = error(401, "unauthorized", detail, {"WWW-Authenticate": 'Bearer realm="korqa"'})
            return await reply(scope, receive, send_with_headers)
        if scope["method"] in BODY_METHODS and not is_json(headers.get(b"content-type")):
            detail = "send the body as JSON with the header Content-Type: application/json"
            return await error(415, "unsupported_media_type", detail)(scope, receive, send_with_headers)
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:  # noqa: BLE001 -- a bug: 500 with the request id, logged with its traceback
            if started:
                raise
            await error_response(Request(scope), exc)(scope, receive, send_with_headers)

    def authorized(self, header: bytes) -> bool:
        scheme, _, given = header.partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        # Compare with every key, in constant time each: neither the match nor its position shows in the timing.
        return sum(hmac.compare_digest(given.strip(), key) for key in self.keys) > 0


OPEN_PATHS = ("/healthz", "/readyz")  # probes stay open; so do the page, /docs and their assets (no data)


def route_path(scope) -> str:
    """The path without the --root-path prefix (uvicorn puts it in front)."""
    root, path = scope.get("root_path") or "", scope["path"]
    return path[len(root) :] if root and path.startswith(root) else path


def needs_key(scope) -> bool:
    path = route_path(scope)
    if scope["method"] == "OPTIONS" or path in OPEN_PATHS:
        return False
    return path in ("/api", "/metrics") or path.startswith("/v1/") or (path == "/" and scope["method"] == "POST")


class BodyLimit:
    """Reject bodies over `max_bytes` with 413 before they are parsed, whether or not Content-Length is sent, and
    bodies that stall for more than `read_timeout` seconds between chunks with 408."""

    def __init__(self, app, max_bytes: int, read_timeout: float | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        detail = f"request body is over max_body_bytes ({self.max_bytes})"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await error(413, "limit", detail, limit="max_body_bytes")(scope, receive, send)
        received, complete = 0, False

        async def limited_receive():
            nonlocal received, complete
            if complete or self.read_timeout is None:
                message = await receive()  # after the body only a disconnect is left: no deadline on waiting
            else:
                try:
                    message = await asyncio.wait_for(receive(), self.read_timeout)
                except TimeoutError:
                    stalled = f"the request body stalled for over read_timeout ({self.read_timeout:g} s)"
                    raise HTTPException(408, stalled) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > self.max_bytes:  # a chunked body with no Content-Length
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, limited_receive, send)


class Observe:
    """Every request, once it is answered: the metrics (requests by route and status, their duration, how many are
    in flight; the route is the matched path template, so 404s add no labels) and one JSON access-log line at INFO
    on the korqa.access logger (time, request id, method, route, status, duration, and the windows and queue wait
    the handler recorded; question and passage text only with --log-bodies)."""

    def __init__(self, app, metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def record(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.inc("korqa_requests_in_flight")
        try:
            await self.app(scope, receive, record)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.dec("korqa_requests_in_flight")
            labels = {"route": getattr(scope.get("route"), "path", "other"), "status": str(status)}
            self.metrics.inc("korqa_requests_total", **labels)
            self.metrics.observe("korqa_request_duration_seconds", seconds, **labels)
            state = scope.get("state") or {}
            line = {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "request_id": state.get("request_id"),
                "method": scope["method"],
                "route": getattr(scope.get("route"), "path", scope["path"]),
                "status": status,
                "duration_ms": round(seconds * 1e3, 2),
            }
            line |= {k: state[k] for k in ("windows", "queue_ms", "questions", "contexts") if k in state}
            access_log.info(json.dumps(line, ensure_ascii=False))


# -- the service: limits, queueing, answers ---------------------------------------------------------------------


async def disconnected(request: Request) -> None:
    """Returns when the client closes the connection (the body has been read, so only http.disconnect is left)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


class Service:
    """What every route does between parsing a body and writing one: check the limits, queue, wait."""

    def __init__(self, engine: QAEngine, serve: ServeConfig, batcher: Batcher):
        self.engine, self.serve, self.batcher = engine, serve, batcher

    def check(self, question: str, passages: list[str]) -> None:
        limits = self.serve
        if len(question) > limits.max_question_chars:
            raise LimitError(
                f"question has {len(question)} characters, over max_question_chars ({limits.max_question_chars})",
                "max_question_chars",
            )
        if len(passages) > limits.max_contexts:
            raise LimitError(f"{len(passages)} passages, over max_contexts ({limits.max_contexts})", "max_contexts")
        for i, passage in enumerate(passages):
            if len(passage) > limits.max_context_chars:
                raise LimitError(
                    f"passage {i} has {len(passage)} characters, over max_context_chars ({limits.max_context_chars})",
                    "max_context_chars",
                )

    def check_options(self, top_k: int | None) -> None:
        if top_k is not None and top_k > self.serve.max_top_k:
            raise LimitError(f"top_k {top_k} is over max_top_k ({self.serve.max_top_k})", "max_top_k")

    def questions(self, items: list[QuestionIn]) -> list[Question]:
        if len(items) > self.serve.max_batch_items:
            raise LimitError(
                f"{len(items)} items, over max_batch_items ({self.serve.max_batch_items})", "max_batch_items"
            )
        if not items:
            raise InputError("items is empty")
        out = []
        for i, item in enumerate(items):
            self.check(item.question, item.passages)
            try:
                out.append(as_question(item.question, item.passages))
            except InputError as exc:
                raise InputError(f"items.{i}: {exc}") from exc
        return out

    draining = False  # set on SIGTERM: new requests get 503, /readyz too

    async def run(
        self, request: Request, questions: list[Question], top_k=None, max_answer_length=None, no_answer_threshold=None
    ):
        """Queue the questions for the model; give up (and free the queue) if the client goes away."""
        if self.draining:
            raise ShuttingDown("the server is shutting down; try again shortly")
        future = await asyncio.to_thread(
            self.batcher.submit,
            questions,
            top_k,
            max_answer_length,
            self.serve.request_timeout,
            no_answer_threshold,
        )
        waiting = asyncio.wrap_future(future)
        gone = asyncio.ensure_future(disconnected(request))
        try:  # wait for whichever comes first; no polling (16 waiting clients polling was measurable CPU)
            await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if waiting.done():
            results = waiting.result()
            request.state.windows = sum(r.windows for r in results)
            request.state.queue_ms = round(max(r.timings.get("queue_ms", 0.0) for r in results), 2)
            if self.serve.log_bodies:
                request.state.questions = [q.question for q in questions]
                request.state.contexts = [list(q.contexts) for q in questions]
            return results
        self.batcher.cancel(future)
        raise ClientGone("the client closed the connection before the answer was ready")


def answers_out(result: QAResult) -> list[AnswerOut]:
    return [AnswerOut(**asdict(a)) for a in result.answers]


def result_out(result: QAResult) -> dict:
    """What /v1/answer and each /v1/answer/batch result say about one question."""
    return {
        "answers": answers_out(result),
        "no_answer": result.no_answer,
        "no_answer_score": result.no_answer_score,
        "best_guess": AnswerOut(**asdict(result.best_guess)) if result.best_guess else None,
    }


def hf_answers(result: QAResult, top_k: int, handle_impossible: bool) -> HFAnswer | list[HFAnswer]:
    """The pipeline's output: the best answer, or a list of top_k; with handle_impossible_answer the empty answer
    (score: the no-answer probability, offsets 0) competes with the spans."""
    ranked = [HFAnswer(answer=a.text, score=a.score, start=a.start, end=a.end) for a in result.answers]
    if handle_impossible or not ranked:
        ranked.append(HFAnswer(answer="", score=result.no_answer_score, start=0, end=0))
        ranked.sort(key=lambda a: -a.score)
    return ranked[0] if top_k == 1 else ranked[:top_k]


# -- the app -------------------------------------------------------------------------------------------------------


def create_app(engine: QAEngine, serve: ServeConfig | None = None) -> FastAPI:
    serve = serve or ServeConfig()
    serve.validate()
    metrics = serving_registry(engine.model.name, __version__)
    batcher = Batcher(
        engine,
        max_wait_ms=serve.max_wait_ms,
        max_queue=serve.max_queue,
        metrics=metrics,
        max_request_windows=serve.max_request_windows,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        batcher.close()

    app = FastAPI(
        title="korqa",
        summary="Extractive question answering over Korean passages",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served below from installed assets, not a CDN
        redoc_url=None,
    )
    service = Service(engine, serve, batcher)
    app.state.batcher, app.state.service = batcher, service
    add_error_handlers(app)
    add_routes(app, service, metrics)
    app.add_middleware(BodyLimit, max_bytes=serve.max_body_bytes, read_timeout=serve.read_timeout)
    app.add_middleware(Guard, hosts=serve.hosts(), api_keys=serve.api_keys)
    if serve.cors_origins:  # outside the guard: a preflight OPTIONS is answered without a key
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(serve.cors_origins),
            allow_methods=["GET", "HEAD", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(Observe, metrics=metrics)  # outermost: sees every request's final status, refusals too
    if not serve.api_keys and not serve.on_loopback:
        log.warning("listening on %s without an API key: anyone who can reach it can use it (--api-key)", serve.host)
    return app


def add_error_handlers(app: FastAPI) -> None:
    async def on_error(request: Request, exc: Exception):
        return error_response(request, exc)

    async def on_validation(request: Request, exc: RequestValidationError):
        return validation_response(request, exc)

    async def on_http(request: Request, exc: StarletteHTTPException):
        return http_response(request, exc)

    for kind_of, _, _ in ERRORS:
        app.add_exception_handler(kind_of, on_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    # Anything else is a bug: Guard answers it (500 with the request id, logged with its traceback).


def documented(*statuses: int) -> dict:
    """OpenAPI `responses` for these error statuses: every one has the ErrorBody."""
    words = {
        401: "an API key is required (korqa serve --api-key) and was missing or wrong",
        408: "the request body stalled for over read_timeout",
        413: "over a limit; `limit` names it",
        415: "the body is not Content-Type: application/json",
        422: "malformed JSON, invalid UTF-8, wrong types, missing fields, or empty text",
        503: "too many requests waiting (max_queue) or the server is shutting down; see Retry-After",
        504: "no answer within request_timeout",
    }
    return {status: {"model": ErrorBody, "description": words[status]} for status in statuses}


ANSWER_ERRORS = documented(401, 408, 413, 415, 422, 503, 504)


def add_routes(app: FastAPI, svc: Service, metrics) -> None:
    engine, model_name = svc.engine, svc.engine.model.name

    @app.get("/", include_in_schema=False)
    @app.head("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/docs", include_in_schema=False)
    @app.head("/docs", include_in_schema=False)
    async def docs():
        return FileResponse(STATIC / "docs.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_assets()), name="docs-assets")

    @app.get("/healthz")
    @app.head("/healthz", include_in_schema=False)
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", responses=documented(503))
    @app.head("/readyz", include_in_schema=False)
    async def readyz():
        # The model is loaded before the server listens, so a server that answers is ready -- until it drains.
        if svc.draining:
            return error(503, "shutting_down", "the server is shutting down", {"Retry-After": "1"})
        return {"ready": True, "model": model_name}

    @app.get("/metrics", response_class=PlainTextResponse)
    @app.head("/metrics", include_in_schema=False)
    async def prometheus():
        return PlainTextResponse(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/v1/model", responses=documented(401))
    @app.head("/v1/model", include_in_schema=False)
    async def model_info():
        return {**engine.model.describe(), "limits": svc.serve.public(), "load_seconds": engine.model.load_seconds}

    @app.post("/api", response_model=SeedResponse, responses=ANSWER_ERRORS)
    async def seed_api(body: SeedRequest, request: Request):
        """The nlpbook service's contract: empty question or context -> empty answer."""
        svc.check(body.question, [body.context])
        if not has_visible(body.question) or not has_visible(body.context):
            return SeedResponse(question=body.question, context=body.context, answer="")
        (result,) = await svc.run(request, [as_question(body.question, body.context)])
        best = result.answers[0] if result.answers else None
        return SeedResponse(
            question=body.question,
            context=body.context,
            answer=best.text if best else "",
            start=best.start if best else None,
            end=best.end if best else None,
            score=best.score if best else None,
            no_answer=result.no_answer,
        )

    @app.post("/", response_model=HFAnswer | list[HFAnswer] | list[HFAnswer | list[HFAnswer]], responses=ANSWER_ERRORS)
    async def hf_inference(body: HFRequest, request: Request):
        """The Hugging Face Inference API's question-answering payload, so clients of hosted QA endpoints work:
        `{inputs: {question, context} | [...], parameters: {top_k, max_answer_len, handle_impossible_answer}}` ->
        `{answer, score, start, end}` (a list when top_k > 1, one per input when inputs is a list)."""
        params = body.parameters
        server_side = [k for k in ("doc_stride", "max_seq_len", "max_question_len") if getattr(params, k) is not None]
        if server_side or not params.align_to_words:
            named = server_side or ["align_to_words"]
            raise InputError(
                f"parameters {', '.join(named)}: set per server in korqa (korqa serve --doc-stride, --max-seq-length, "
                "--max-query-length; answers are always aligned to tokens), not per request"
            )
        svc.check_options(params.top_k)
        items = body.inputs if isinstance(body.inputs, list) else [body.inputs]
        for item in items:
            svc.check(item.question, [item.context])
        questions = [as_question(item.question, item.context) for item in items]
        results = await svc.run(request, questions, params.top_k, params.max_answer_len)
        outputs = [hf_answers(r, params.top_k or 1, params.handle_impossible_answer) for r in results]
        return outputs if isinstance(body.inputs, list) else outputs[0]

    @app.post("/v1/answer", response_model=AnswerResponse, responses=ANSWER_ERRORS)
    async def answer(body: AnswerRequest, request: Request):
        svc.check(body.question, body.passages)
        svc.check_options(body.top_k)
        question = as_question(body.question, body.passages)
        (result,) = await svc.run(request, [question], body.top_k, body.max_answer_length, body.no_answer_threshold)
        return AnswerResponse(**result_out(result), model=model_name, timings=result.timings)

    @app.post("/v1/answer/batch", response_model=BatchResponse, responses=ANSWER_ERRORS)
    async def answer_batch(body: BatchRequest, request: Request):
        svc.check_options(body.top_k)
        results = await svc.run(
            request, svc.questions(body.items), body.top_k, body.max_answer_length, body.no_answer_threshold
        )
        return BatchResponse(
            results=[BatchResult(**result_out(r)) for r in results],
            model=model_name,
            timings=results[0].timings if results else {},
        )
