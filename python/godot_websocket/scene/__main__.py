"""``python -m godot_websocket.scene FILE.gd``: print the RPC table Godot computes for a script.

Inherited ``@rpc`` methods count; ``--project-root`` is the folder with ``project.godot``
(found above the script when omitted). Prints ``id name annotation`` per method, then the
checksum that ``SIMPLIFY_PATH`` carries.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .gdscript_rpc import GDScriptParseError, load_gdscript_rpc
from .rpc_config import RPCTable


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, print the table; exit status 1 on a parse or file error."""
    parser = argparse.ArgumentParser(
        prog="python -m godot_websocket.scene",
        description="Print the RPC method ids and checksum Godot computes for a .gd script.",
    )
    parser.add_argument("script", type=Path, help="the .gd file")
    parser.add_argument("--project-root", type=Path, default=None,
                        help="the folder with project.godot (found above the script if omitted)")
    args = parser.parse_args(argv)
    try:
        table = RPCTable(load_gdscript_rpc(args.script, args.project_root))
    except (GDScriptParseError, OSError) as exc:
        print(f"error: {exc}")
        return 1
    for method in table:
        print(f"{method.id:>5}  {method.name}  {method.config.annotation()}")
    print(f"md5 {table.checksum}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
