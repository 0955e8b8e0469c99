"""Headless command line: ``python -m pipelines <command> ...``.

Each command lives in its own module under ``pipelines/commands/`` and defines

    HELP: str                       one line for ``--help``
    add_arguments(parser) -> None   its argparse arguments
    run(args) -> int                the work; heavy imports (torch, diffusers) go inside run()

Exit codes and messages:
- 0: done.
- 2: the user's mistake (bad files, size mismatches, bad parameters: a UserError) or a file system error
  (OSError): one line on stderr, never a traceback.
- 1: an internal error (a bug, or a ContractViolation: the result was refused): one short line on stderr naming
  the log file, whose record has the traceback.
- 130: interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from pathlib import Path

from . import commands
from .errors import UserError, one_line

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines",
        description="Inpainting with guaranteed seams: every pixel outside the mask stays byte-identical.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        cmd = sub.add_parser(info.name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def log_path() -> Path:
    """Where the CLI's log goes: $INPAINT_APP_CACHE/logs/cli.log (default ~/.cache/inpaint-app/logs/cli.log)."""
    base = Path(os.environ.get("INPAINT_APP_CACHE") or Path.home() / ".cache" / "inpaint-app")
    return base / "logs" / "cli.log"


def _log_to_file() -> Path | None:
    """Send warnings and errors to the log file (the traceback of an internal error goes there); once."""
    path = log_path()
    root = logging.getLogger()
    if any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.WARNING)
    root.addHandler(handler)
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    return path


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (UserError, OSError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        path = _log_to_file()
        log.exception("internal error in 'python -m pipelines %s'", args.command)
        where = f"; the traceback is in {path}" if path else ""
        print(f"error: internal error ({type(exc).__name__}: {one_line(exc, 200)}){where}", file=sys.stderr)
        return 1
