"""korqa on a Ray cluster (`pip install "korqa[ray]"`): an adapter at the edge, like the CLI; the library never
imports it.

- `app`: a Ray Serve application builder. Each replica loads the model once and serves the very app `korqa serve`
  serves (korqa.server.app.create_app: the same routes, validation, errors, limits and token-budget batching
  across the requests that reach it), behind Serve's HTTP proxy. Every response names its replica
  (`X-Korqa-Replica`). Arguments are `korqa serve`'s options, by name:

      serve run korqa.ray:app model=runs/e6-int8 threads=1
      korqa ray-config --replicas 2 --threads 1 > serve.yaml && serve deploy serve.yaml   # a cluster

  `threads` (default 1) is both the replica's `num_cpus` and its compute threads, so two replicas on two cores
  do not each spin two threads. Replicas, autoscaling and max_ongoing_requests are Serve's deployment options:
  `korqa ray-config` writes them into a Serve config file (see README, "Scale out").

- `answer_dataset`: batch QA on Ray Data: `map_batches` over a pool of actors that each load the model once and
  answer with the same engine as `korqa batch` without --ray (identical answers).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from collections.abc import Iterable
from typing import Any

from korqa.errors import ConfigError

DEPLOYMENT = "Korqa"
NOT_HERE = {"host", "port"}  # Serve's proxy listens: http_options in the config file


def serve_options(args: dict[str, Any]) -> argparse.Namespace:
    """`korqa serve`'s parser reads the builder's arguments (`model=DIR`, `max_batch_tokens=384`, ...), so they
    mean what the same options mean to `korqa serve`, with the same checks; a mistake is refused when the
    application is built, before any replica starts."""
    from korqa.cli import build_parser

    parser = build_parser()
    serve_parser = next(a for a in parser._subparsers._group_actions if a.choices).choices["serve"]
    actions = {}  # by destination and by flag name: use_boundary_rules and boundary_rules both work
    for a in serve_parser._actions:
        for o in a.option_strings:
            if o.startswith("--") and not o.startswith("--no-"):
                actions[o[2:].replace("-", "_")] = actions[a.dest] = a
    argv = ["serve"]
    for key, value in args.items():
        dest = key.replace("-", "_")
        if dest in NOT_HERE:
            raise ConfigError(f"{key}: Ray Serve's proxy listens (http_options in the Serve config file), not korqa")
        action = actions.get(dest)
        if action is None or dest in ("help", "verbose"):
            raise ConfigError(f"unknown setting {key!r} (the options of `korqa serve`, e.g. model, threads)")
        flag = next(o for o in action.option_strings if o.startswith("--") and not o.startswith("--no-"))
        if isinstance(action, argparse.BooleanOptionalAction):
            argv.append(flag if as_bool(key, value) else "--no-" + flag[2:])
        elif action.nargs == 0:
            if as_bool(key, value):
                argv.append(flag)
        elif isinstance(value, list | tuple):
            if isinstance(action, argparse._AppendAction):
                for item in value:
                    argv += [flag, str(item)]
            else:
                argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            return parser.parse_args(argv)
    except SystemExit as exc:
        message = said.getvalue().strip().splitlines()[-1] if said.getvalue().strip() else str(exc)
        raise ConfigError(f"korqa.ray:app arguments: {message.removeprefix('korqa serve: error: ')}") from exc


def as_bool(key: str, value) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key} must be true or false, got {value!r}")


def replica_threads(options: argparse.Namespace) -> int:
    threads = options.threads if options.threads is not None else 1
    if threads < 1:
        raise ConfigError(f"threads must be at least 1, got {threads}")
    return threads


def build_replica_app(options: argparse.Namespace):
    """Runs in each replica: the model, and `korqa serve`'s app around it, with the replica's name on every
    response."""
    from ray import serve

    from korqa.cli import given, load_engine
    from korqa.config import ServeConfig
    from korqa.server.app import create_app

    # Behind Serve's proxy: any Host it passes on, unless allowed_hosts says otherwise.
    config = ServeConfig(**given(options, ServeConfig) | {"host": "0.0.0.0"})
    engine = load_engine(options)
    app = create_app(engine, config)
    replica = f"{serve.get_replica_context().replica_id.unique_id} pid={os.getpid()}"

    @app.middleware("http")
    async def name_the_replica(request, call_next):
        response = await call_next(request)
        response.headers["X-Korqa-Replica"] = replica
        return response

    return app


def deployment(args: dict[str, Any]):
    """The Serve deployment (unbound): `deployment(args).options(num_replicas=2).bind()` in Python; a Serve config
    file sets the same options for `app`."""
    from ray import serve

    options = serve_options(args)
    threads = replica_threads(options)
    options.threads = threads
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "RAYON_NUM_THREADS", "MKL_NUM_THREADS")}

    @serve.deployment(
        name=DEPLOYMENT,
        ray_actor_options={"num_cpus": threads, "runtime_env": {"env_vars": env}},
        max_ongoing_requests=64,  # korqa's own queue (max_queue) and batcher decide; Serve only routes
        health_check_period_s=5,
    )
    @serve.ingress(lambda: build_replica_app(options))
    class Korqa:
        pass

    return Korqa


def app(args: dict[str, Any]):
    """The Ray Serve application builder (`serve run korqa.ray:app key=value ...`, or `import_path` in a Serve
    config file with `args:`)."""
    return deployment(args).bind()


# -- the Serve config file ---------------------------------------------------------------------------------------


def serve_config(
    args: dict[str, Any],
    replicas: int | None = 1,
    autoscale: tuple[int, int] | None = None,
    max_ongoing_requests: int = 64,
    host: str = "0.0.0.0",
    port: int = 8000,
) -> dict:
    """A Serve config file (`serve deploy FILE` on a cluster, `serve run FILE` on one machine) for korqa.ray:app.
    The arguments are checked here, as the builder will read them."""
    options = serve_options(args)
    threads = replica_threads(options)
    deployment: dict[str, Any] = {
        "name": DEPLOYMENT,
        "max_ongoing_requests": max_ongoing_requests,
        "ray_actor_options": {"num_cpus": threads},
    }
    if autoscale:
        low, high = autoscale
        if not 0 <= low <= high or high < 1:
            raise ConfigError(f"autoscale needs 0 <= min <= max and max >= 1, got {low} {high}")
        deployment["autoscaling_config"] = {
            "min_replicas": low,
            "max_replicas": high,
            "target_ongoing_requests": 16,  # korqa batches what queues in a replica: let it queue a little
        }
    else:
        if replicas is None or replicas < 1:
            raise ConfigError(f"replicas must be at least 1, got {replicas}")
        deployment["num_replicas"] = replicas
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": host, "port": port},
        "applications": [
            {
                "name": "korqa",
                "route_prefix": "/",
                "import_path": "korqa.ray:app",
                "args": {k: v for k, v in args.items()},
                "deployments": [deployment],
            }
        ],
    }


# -- batch QA on Ray Data ----------------------------------------------------------------------------------------


class Answerer:
    """One actor of the pool: loads the model once, answers batches of rows {id, question, context}."""

    def __init__(self, model: str | None, threads: int, config):
        import ray

        from korqa.batch import answer_rows
        from korqa.engine import QAEngine

        self.engine = QAEngine.from_config(config, model=model, threads=threads)
        self.answer_rows = answer_rows
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict) -> dict:
        rows = [dict(zip(batch.keys(), values, strict=True)) for values in zip(*batch.values(), strict=True)]
        out = self.answer_rows(self.engine, rows)
        columns = {key: [r[key] for r in out] for key in out[0]} if out else {}
        columns["node"] = [self.node] * len(out)
        return columns


def answer_dataset(
    rows: Iterable[dict],
    model: str | None,
    threads: int,
    actors: int,
    config,
    batch_size: int = 16,
    address: str | None = None,
):
    """Answers for `rows` from a pool of `actors` engine actors (each `threads` CPUs); yields answer rows (with the
    node that answered) as Ray Data produces them."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    rows = list(rows)
    if not rows:
        return
    # Enough blocks for every actor to get work (one block would go to one actor), each about a batch or more.
    blocks = min(len(rows), max(4 * actors, -(-len(rows) // batch_size)))
    ds = ray.data.from_items(rows, override_num_blocks=blocks)
    answered = ds.map_batches(
        Answerer,
        fn_constructor_args=(model, threads, config),
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=threads,
        batch_format="numpy",
    )
    for row in answered.iter_rows():
        yield {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
