"""The ``godot-websocket`` command line: ``demo``, ``serve``, ``connect`` and ``bench``.

Each command lives in its own module with two functions: ``add_parser(subparsers)``
declares its arguments and ``run(args) -> int`` runs it. :func:`run` parses the command
line, dispatches, and turns every failure into one ``godot-websocket: error: ...`` line.

Exit codes (the same for every command):

* ``0``: success (for ``serve`` and ``connect`` also a stop with Ctrl-C / SIGTERM);
* ``1``: the command ran to its end but its checks failed (``demo``/``bench`` saw errors);
* ``2``: error: bad arguments, port in use, unreadable certificate, unreachable or
  malformed URL, connection lost... (one line on stderr);
* ``130``: ``demo``/``bench`` interrupted by Ctrl-C, or a second Ctrl-C.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from . import bench, connect, demo, serve
from ._common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    PROG,
    ArgumentParser,
    CLIError,
    library_logging,
)

__all__ = ["build_parser", "run"]

_DESCRIPTION = """\
Godot 4 WebSocket multiplayer from the command line: test servers and clients that
speak WebSocketMultiplayerPeer's protocol and Godot's binary Variant format.

Start with:  godot-websocket demo
"""

_EPILOG = """\
Run 'godot-websocket COMMAND --help' for the options of a command.
Exit codes: 0 ok, 1 checks failed (demo/bench), 2 error, 130 interrupted.
"""

_COMMANDS = (demo, serve, connect, bench)


def build_parser() -> ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    parser = ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(
        title="commands", metavar="COMMAND", dest="command", parser_class=ArgumentParser
    )
    subparsers.required = True
    for module in _COMMANDS:
        module.add_parser(subparsers)
    return parser


def _restore_stdout_after_broken_pipe() -> None:
    # The reader went away (``... | head``): stop writing, and let the interpreter's
    # final flush go to /dev/null instead of raising again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _tolerant_streams() -> None:
    # Output uses a few non-ASCII characters (µs, →, ·); never crash on a console or a
    # redirected file whose encoding cannot show them.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):
                pass


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return the exit code."""
    _tolerant_streams()
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as e:  # --help and --version
            return e.code if isinstance(e.code, int) else EXIT_ERROR
        handler: Callable[[argparse.Namespace], int] = args.handler
        with library_logging(args.verbose):
            return handler(args)
    except CLIError as e:
        sys.stdout.flush()
        print(f"{PROG}: error: {e.message}", file=sys.stderr, flush=True)
        return e.code
    except KeyboardInterrupt:
        sys.stdout.flush()
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _restore_stdout_after_broken_pipe()
        return EXIT_ERROR
