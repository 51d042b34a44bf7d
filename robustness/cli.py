"""The `m3r` command line: one subcommand per stage, each in its own module under `commands/`.

Each command module exposes `register(subparsers)`, which adds its parser and sets `handler` to a function
taking the parsed arguments and returning an exit code. Heavy imports (torch, transformers) happen inside
handlers, so `m3r --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from robustness import __version__
from robustness.errors import UserError, one_line

# Modules that register subcommands, in the order `m3r --help` lists them.
COMMAND_MODULES = (
    "robustness.commands.info",
    "robustness.commands.data",
    "robustness.commands.inspect",
    "robustness.commands.convert",
    "robustness.commands.merge",
    "robustness.commands.models",
    "robustness.commands.evaluate",
    "robustness.commands.attack",
    "robustness.commands.livebench",
    "robustness.commands.plan",
    "robustness.commands.run",
    "robustness.commands.report",
)


class Parser(argparse.ArgumentParser):
    """argparse with the suite's error format: one line, naming the flag, pointing at --help; exit code 2.

    Subcommand parsers are made with the parent's class, so every command and verb reports this way.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="m3r",
        description="Robustness evaluation of merged language models with and without Mixup Model Merge (M3).",
    )
    parser.add_argument("--version", action="version", version=f"m3r {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def quiet_libraries() -> None:
    """Silence the libraries' own progress bars and advice: the suite reports progress itself (rich, stderr)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read by transformers when it is imported
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")  # plain tqdm bars (GGUF dequantisation) ignore the two above
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\.")


def main(argv: Sequence[str] | None = None) -> int:
    # Before torch is imported: OpenMP threads that spin while waiting for a descheduled peer made every
    # forward pass about 4x slower on two busy cores (measured); a passive wait costs little when idle.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if not args.verbose:
        quiet_libraries()
    try:
        return int(args.handler(args))
    except UserError as exc:
        print(f"m3r {args.command}: error: {one_line(str(exc))}", file=sys.stderr)  # one line, of a readable size
        return 2
    except KeyboardInterrupt:
        print(f"m3r {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
