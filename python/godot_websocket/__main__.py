"""``python -m godot_websocket`` and the ``godot-websocket`` console script.

Commands: ``demo``, ``serve``, ``connect``, ``bench`` (see ``docs/cli.md`` or
``godot-websocket --help``). The code is in :mod:`godot_websocket.cli`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    from .cli import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
