"""The HTTP edge: FastAPI routes over a QAEngine. Validation and limits happen here; every failure is a 4xx
JSON body `{"error": <kind>, "detail": <what is wrong>}` and the server keeps serving.

Routes: GET / (web page), POST /api (the nlpbook service's contract), POST /v1/answer, POST /v1/answer/batch,
GET /healthz, GET /readyz, GET /v1/model, OpenAPI at /docs.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from korqa.batcher import Batcher, QueueFull
from korqa.engine import QAEngine, QAResult, Question, as_question
from korqa.errors import InputError, KorqaError, LimitError
from korqa.metrics import serving_registry
from korqa.server.schemas import (
    AnswerOut,
    AnswerRequest,
    AnswerResponse,
    BatchRequest,
    BatchResponse,
    BatchResult,
    Limits,
    QuestionIn,
    SeedRequest,
    SeedResponse,
)

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


def error(status: int, kind: str, detail: str, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"error": kind, "detail": detail, **extra}, status_code=status, headers=headers)


class BodyLimit:
    """Reject bodies over `max_bytes` with 413 before they are parsed, whether or not Content-Length is sent."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        detail = f"request body is over max_body_bytes ({self.max_bytes})"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await error(413, "limit", detail, limit="max_body_bytes")(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # a chunked body with no Content-Length
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, limited_receive, send)


class CountRequests:
    """korqa_requests_total{route, status}; the route is the matched path template, so 404s do not add labels."""

    def __init__(self, app, metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = {"code": 500}

        async def record(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = getattr(scope.get("route"), "path", "other")
            self.metrics.inc("korqa_requests_total", route=route, status=str(status["code"]))


async def disconnected(request: Request) -> None:
    """Returns when the client closes the connection (the body has been read, so only http.disconnect is left)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _answers_out(result: QAResult) -> list[AnswerOut]:
    return [AnswerOut(**asdict(a)) for a in result.answers]


def create_app(engine: QAEngine, limits: Limits | None = None) -> FastAPI:
    limits = limits or Limits()
    metrics = serving_registry()
    batcher = Batcher(
        engine,
        max_wait_ms=limits.max_wait_ms,
        max_queue=limits.max_queue,
        metrics=metrics,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        batcher.close()

    app = FastAPI(
        title="korqa",
        summary="Extractive question answering over Korean passages",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    model_name = engine.model.name

    def check(q: QuestionIn | SeedRequest, passages: list[str]) -> None:
        if len(q.question) > limits.max_question_chars:
            raise LimitError(
                f"question has {len(q.question)} characters, over max_question_chars ({limits.max_question_chars})",
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

    def check_options(top_k: int | None) -> None:
        if top_k is not None and top_k > limits.max_top_k:
            raise LimitError(f"top_k {top_k} is over max_top_k ({limits.max_top_k})", "max_top_k")

    async def run(request: Request, questions: list[Question], top_k=None, max_answer_length=None) -> list[QAResult]:
        """Queue the questions for the model; give up (and free the queue) if the client goes away."""
        future = await asyncio.to_thread(batcher.submit, questions, top_k, max_answer_length)
        waiting = asyncio.wrap_future(future)
        gone = asyncio.ensure_future(disconnected(request))
        try:  # wait for whichever comes first; no polling (16 waiting clients polling was measurable CPU)
            await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if waiting.done():
            return waiting.result()
        batcher.cancel(future)
        raise _ClientGone

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            if e.get("type") == "json_invalid":
                problems.append(f"body is not valid JSON ({e.get('ctx', {}).get('error', 'parse error')})")
                continue
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {e.get('msg')}")
        return error(422, "invalid_request", "; ".join(problems) or "invalid request")

    @app.exception_handler(LimitError)
    async def on_limit(request: Request, exc: LimitError):
        return error(413, "limit", str(exc), limit=exc.limit)

    @app.exception_handler(InputError)
    async def on_input_error(request: Request, exc: InputError):
        return error(422, "invalid_input", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException):
        kind = {404: "not_found", 405: "method_not_allowed", 413: "limit"}.get(exc.status_code, "http_error")
        return error(exc.status_code, kind, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return error(500, "internal", "internal error; the request was logged")

    @app.exception_handler(KorqaError)
    async def on_korqa_error(request: Request, exc: KorqaError):
        return error(422, "invalid_input", str(exc))

    @app.exception_handler(QueueFull)
    async def on_busy(request: Request, exc: QueueFull):
        return error(503, "busy", f"{exc}; try again shortly", {"Retry-After": "1"})

    @app.exception_handler(_ClientGone)
    async def on_gone(request: Request, exc: _ClientGone):
        return error(499, "client_closed", "the client closed the connection before the answer was ready")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        # The model is loaded before the server listens, so a server that answers is ready.
        return {"ready": True, "model": model_name}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus():
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/model")
    async def model_info():
        return {**engine.model.describe(), "limits": asdict(limits), "load_seconds": engine.model.load_seconds}

    @app.post("/api", response_model=SeedResponse)
    async def seed_api(body: SeedRequest, request: Request):
        """The nlpbook service's contract: empty question or context -> empty answer."""
        check(body, [body.context])
        if not body.question.strip() or not body.context.strip():
            return SeedResponse(question=body.question, context=body.context, answer="")
        (result,) = await run(request, [as_question(body.question, body.context)])
        best = result.answers[0] if result.answers else None
        return SeedResponse(
            question=body.question,
            context=body.context,
            answer=best.text if best else "",
            start=best.start if best else None,
            end=best.end if best else None,
            score=best.score if best else None,
        )

    @app.post("/v1/answer", response_model=AnswerResponse)
    async def answer(body: AnswerRequest, request: Request):
        check(body, body.passages)
        check_options(body.top_k)
        (result,) = await run(request, [as_question(body.question, body.passages)], body.top_k, body.max_answer_length)
        return AnswerResponse(
            answers=_answers_out(result),
            no_answer_score=result.no_answer_score,
            model=model_name,
            timings=result.timings,
        )

    @app.post("/v1/answer/batch", response_model=BatchResponse)
    async def answer_batch(body: BatchRequest, request: Request):
        if len(body.items) > limits.max_batch_items:
            raise LimitError(
                f"{len(body.items)} items, over max_batch_items ({limits.max_batch_items})", "max_batch_items"
            )
        if not body.items:
            raise InputError("items is empty")
        check_options(body.top_k)
        questions = []
        for i, item in enumerate(body.items):
            check(item, item.passages)
            try:
                questions.append(as_question(item.question, item.passages))
            except InputError as exc:
                raise InputError(f"items.{i}: {exc}") from exc
        results = await run(request, questions, body.top_k, body.max_answer_length)
        return BatchResponse(
            results=[BatchResult(answers=_answers_out(r), no_answer_score=r.no_answer_score) for r in results],
            model=model_name,
            timings=results[0].timings if results else {},
        )

    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    app.add_middleware(CountRequests, metrics=metrics)
    return app


class _ClientGone(Exception):
    pass
