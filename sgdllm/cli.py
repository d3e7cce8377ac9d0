"""Command line: ``sgdllm book`` executes the chapters and builds the book; ``sgdllm pretrain``
trains the default language model and ``sgdllm evaluate-model`` scores it.

Subcommands import their heavy dependencies (torch, transformers) lazily, so ``sgdllm book``
never imports torch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _book(args: argparse.Namespace) -> int:
    from .book import ChapterFailed, build_book, find_root, parse_overrides

    root = find_root(args.root)
    try:
        published = build_book(
            root,
            profile=args.profile,
            chapters=args.chapter or None,
            overrides=parse_overrides(args.param),
            html=not args.no_html,
            force=args.force,
            jobs=args.jobs,
        )
    except (ChapterFailed, ValueError, FileNotFoundError) as err:
        print(f"sgdllm book: {err}", file=sys.stderr)
        return 1
    for path in published:
        print(f"executed {path.relative_to(root)}")
    if not published:
        print("every chapter was up to date (use --force to execute them anyway)")
    if not args.no_html:
        print(f"book built in {root / '_build' / 'html' / 'index.html'}")
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from .lm.pretrain import main as pretrain_main

    summary = pretrain_main(
        str(args.out),
        minutes=args.minutes,
        seed=args.seed,
        smoke=args.smoke,
        n_embd=args.width,
        n_layer=args.layers,
        n_head=args.heads,
        batch=args.batch,
    )
    print(
        f"trained {summary['n_params']} parameters for {summary['steps']} steps "
        f"({summary['tokens']} tokens, {summary['wall_s']:.0f} s); model saved in {args.out}"
    )
    return 0


def _evaluate_model(args: argparse.Namespace) -> int:
    from .lm.evaluate import main as evaluate_main

    return evaluate_main(
        model=args.model, quick=args.quick, out=args.out, card=args.card, seed=args.seed
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sgdllm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    book = sub.add_parser(
        "book",
        help="execute the chapter notebooks with papermill and build the HTML book",
        description="Execute every chapter (or those named with --chapter) with a parameter "
        "profile, skipping chapters whose inputs (notebook, parameters, sgdllm source, model "
        "weights) did not change, then build the book with jupyter-book (-n -W --keep-going).",
    )
    book.add_argument("--profile", default="book", help="profile in notebooks/profiles.yml")
    book.add_argument("--chapter", action="append", help="execute only this chapter (repeatable)")
    book.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="override a parameter of the chapter (value read as YAML); needs one --chapter",
    )
    book.add_argument("--no-html", action="store_true", help="execute only, do not build HTML")
    book.add_argument(
        "--force", action="store_true", help="execute chapters even if their inputs are unchanged"
    )
    book.add_argument(
        "--jobs", type=int, default=None, help="chapters executed at once (default: 2 or cores)"
    )
    book.add_argument("--root", type=Path, default=None, help="repository root (default: cwd)")
    book.set_defaults(func=_book)

    pre = sub.add_parser(
        "pretrain",
        help="pretrain the default digit language model on random Markov processes (CPU)",
        description="Train a small GPT-2 on serialized random stochastic processes (never SGD) "
        "for a wall-clock budget and save a directory that transformers' "
        "AutoModelForCausalLM / AutoTokenizer load. Logs to OUT/train_log.jsonl.",
    )
    pre.add_argument("--out", type=Path, required=True, help="output directory")
    pre.add_argument("--minutes", type=float, default=None, help="wall-clock budget (default 65)")
    pre.add_argument("--seed", type=int, default=0, help="seed of the weights and the data")
    pre.add_argument("--smoke", action="store_true", help="tiny model, a few seconds (tests)")
    pre.add_argument("--width", type=int, default=None, help="n_embd (default 192)")
    pre.add_argument("--layers", type=int, default=None, help="n_layer (default 4)")
    pre.add_argument("--heads", type=int, default=None, help="n_head (default 6)")
    pre.add_argument("--batch", type=int, default=None, help="sequences per step (default 12)")
    pre.set_defaults(func=_pretrain)

    ev = sub.add_parser(
        "evaluate-model",
        help="score a digit language model's in-context kernels against classical estimators",
        description="In-context Bhattacharyya distance and TV to the true kernels of fresh "
        "random processes (training and held-out families) at several context lengths, next "
        "to Laplace counts and Gaussian-smoothed counts (rule and CV bandwidths).",
    )
    ev.add_argument("--model", type=Path, default=None, help="model directory (default: shipped)")
    ev.add_argument("--quick", action="store_true", help="few series (a smoke test)")
    ev.add_argument("--out", type=Path, default=None, help="evaluation.json path")
    ev.add_argument("--card", type=Path, default=None, help="write the markdown table here")
    ev.add_argument("--seed", type=int, default=2024, help="seed of the evaluation processes")
    ev.set_defaults(func=_evaluate_model)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
