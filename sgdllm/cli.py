"""Command line: ``sgdllm book`` executes the chapters and builds the book."""

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
        )
    except (ChapterFailed, ValueError, FileNotFoundError) as err:
        print(f"sgdllm book: {err}", file=sys.stderr)
        return 1
    for path in published:
        print(f"executed {path.relative_to(root)}")
    if not args.no_html:
        print(f"book built in {root / '_build' / 'html' / 'index.html'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sgdllm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    book = sub.add_parser(
        "book",
        help="execute the chapter notebooks with papermill and build the HTML book",
        description="Execute every chapter (or those named with --chapter) with a parameter "
        "profile, then build the book with jupyter-book (-n -W --keep-going).",
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
    book.add_argument("--root", type=Path, default=None, help="repository root (default: cwd)")
    book.set_defaults(func=_book)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
