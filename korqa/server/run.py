"""Running the app under uvicorn, hardened: what `korqa serve` does after the model is loaded.

- Connections: a request head must arrive within `read_timeout` of the connection opening (or of the previous
  response), so idle and half-open sockets are closed (slowloris); beyond `max_connections` open connections a new
  one gets a 503 JSON body and is closed at once, before it can hold a file descriptor for long.
- Shutdown: the first SIGTERM/SIGINT turns /readyz to 503 and new requests to 503, waits up to `shutdown_timeout`
  for the requests in flight, fails the rest cleanly (503), then stops. A second signal stops at once.
- Logs: one line per cause, not a flood -- repeats of the same message within 10 s are counted, not printed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from korqa.config import ServeConfig
from korqa.errors import ConfigError

log = logging.getLogger("korqa.server")


class RateLimitedLogs(logging.Filter):
    """Lets a message through once per `window` seconds per (logger, template); the next one that passes says how
    many were held back. A flood of failing sockets writes a few lines, not hundreds of thousands."""

    def __init__(self, window: float = 10.0):
        super().__init__()
        self.window = window
        self.seen: dict[tuple[str, str], tuple[float, int]] = {}
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self.lock:
            last, held = self.seen.get(key, (0.0, 0))
            if now - last < self.window:
                self.seen[key] = (last, held + 1)
                return False
            self.seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last {self.window:g} s]"
        return True


def limit_log_floods() -> None:
    flood_filter = RateLimitedLogs()
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access", "asyncio", "korqa"):
        logging.getLogger(name).addFilter(flood_filter)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flood_filter)


def protocol_class(serve: ServeConfig) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol with a deadline for each request head and a cap on open connections."""
    busy = json.dumps({"error": "busy", "detail": f"over max_connections ({serve.max_connections})"}).encode()
    busy_response = (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
        b"connection: close\r\ncontent-length: " + str(len(busy)).encode() + b"\r\n\r\n" + busy
    )

    class GuardedH11Protocol(H11Protocol):
        head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > serve.max_connections:
                transport.write(busy_response)
                transport.close()
                return
            self.arm_head_timer()

        def arm_head_timer(self) -> None:
            self.disarm_head_timer()
            self.head_timer = self.loop.call_later(serve.read_timeout, self.head_timed_out)

        def disarm_head_timer(self) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def head_timed_out(self) -> None:
            if not self.transport.is_closing():
                self.transport.close()  # no complete request head in time: a slow or idle client

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self.disarm_head_timer()  # a request head arrived; its body has BodyLimit's read timeout

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self.arm_head_timer()

        def connection_lost(self, exc) -> None:
            self.disarm_head_timer()
            super().connection_lost(exc)

    return GuardedH11Protocol


class DrainingServer(uvicorn.Server):
    """uvicorn.Server whose first signal drains instead of stopping (see the module docstring)."""

    def __init__(self, config: uvicorn.Config, app, serve: ServeConfig):
        super().__init__(config)
        self.korqa_app, self.settings = app, serve  # not self.serve: that is uvicorn's own method
        self.draining = False

    def handle_exit(self, sig, frame) -> None:
        if self.draining:
            return super().handle_exit(sig, frame)
        self.draining = True
        self.korqa_app.state.service.draining = True
        log.info("draining: /readyz is 503; requests in flight get %g s", self.settings.shutdown_timeout)
        threading.Thread(target=self.drain, args=(sig,), name="korqa-drain", daemon=True).start()

    def drain(self, sig) -> None:
        batcher = self.korqa_app.state.batcher
        deadline = time.monotonic() + self.settings.shutdown_timeout
        while batcher.busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        if batcher.busy():
            log.warning(
                "shutdown_timeout (%g s) passed; failing the requests still in flight", self.settings.shutdown_timeout
            )
        batcher.close(f"the server is shutting down (shutdown_timeout {self.settings.shutdown_timeout:g} s)")
        time.sleep(0.2)  # let the last responses go out
        super().handle_exit(sig, None)


def json_access_log() -> None:
    """korqa.access lines are JSON objects already: print them as they are, one per line, on stderr."""
    access = logging.getLogger("korqa.access")
    if not access.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False


def listen(host: str, port: int) -> socket.socket:
    """Bind before the model loads: a port in use is a one-line error at once, not after the load."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def uvicorn_config(app, serve: ServeConfig, verbose: bool = False) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=protocol_class(serve),
        timeout_keep_alive=max(1, round(serve.idle_timeout)),
        timeout_graceful_shutdown=max(1, round(serve.shutdown_timeout + 5)),
        log_level="info" if verbose else "warning",
        access_log=False,  # korqa's own JSON access log instead
        root_path=serve.root_path,
        proxy_headers=serve.forwarded_allow_ips is not None,
        forwarded_allow_ips=serve.forwarded_allow_ips,
    )


@dataclass
class Running:
    """A server started by `start`: its address, and how to stop it."""

    url: str
    app: object
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start(engine=None, *, model: str | None = None, **settings) -> Running:
    """Serve in a background thread and return at once -- for a notebook cell (Jupyter, Colab):

    from korqa.server import start
    running = start(port=8000)      # the embedded model; start(model="DIR"), start(engine=...), ServeConfig fields
    running.url                     # http://127.0.0.1:8000
    running.stop()
    """
    from korqa.engine import QAEngine
    from korqa.server.app import create_app

    serve = ServeConfig(**({"port": 0} | settings))
    serve.validate()
    sock = listen(serve.host, serve.port)
    engine = engine or QAEngine.from_config(model=model, threads=serve.threads)
    app = create_app(engine, serve)
    server = uvicorn.Server(uvicorn_config(app, serve))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="korqa-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ConfigError("the background server did not start")
        time.sleep(0.02)
    host, port = sock.getsockname()[:2]
    return Running(f"http://{host if ':' not in host else f'[{host}]'}:{port}", app, server, thread)


def run(app, sock: socket.socket, serve: ServeConfig, verbose: bool = False) -> None:
    """Serve `app` on the bound socket until a signal (or two) says stop."""
    json_access_log()
    limit_log_floods()
    DrainingServer(uvicorn_config(app, serve, verbose), app, serve).run(sockets=[sock])
