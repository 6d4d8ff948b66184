"""Read the ``@rpc`` declarations of a Godot project's ``.gd`` files.

RPC method ids are positions in the sorted list of a node's RPC names (spec §6.1), so
adding one ``@rpc`` method to the game script shifts the ids silently. Deriving the Python
declarations from the game's scripts keeps both sides equal::

    configs = load_gdscript_rpc("godot_demo/scene/chat.gd")
    multiplayer.register_node("/root/Main", handler, script_rpc=configs)

What is read: top-level ``func`` declarations (``static func`` too) with their ``@rpc``
annotation, whether on the line before or on the same line; annotation arguments that are
string or int literals, or names of top-level ``const`` literals of the same file;
``extends "res://path.gd"``, ``extends "relative.gd"`` and ``extends ClassName`` (a
``class_name`` found in the project), recursively, so inherited ``@rpc`` methods count as
they do in GDScript. Inner classes are skipped (their methods belong to the inner class).
Node-level ``rpc_config()`` calls run at game time and cannot be read: declare them in
Python with ``register_node(..., node_rpc=...)``.

The parser is a small lexer, not a GDScript compiler: it understands comments, all string
forms and bracket continuation lines, and raises :class:`GDScriptParseError` (with the file
and line) for an ``@rpc`` it cannot evaluate rather than guessing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .rpc_config import RPCConfig, RPCConfigError

__all__ = [
    "GDScriptInfo",
    "GDScriptParseError",
    "find_project_root",
    "load_gdscript_rpc",
    "parse_gdscript",
]

_MAX_PROJECT_FILES = 20000  # files looked at when searching a class_name
_MAX_INHERITANCE = 64
_MAX_PARENT_DIRS = 64


class GDScriptParseError(ValueError):
    """A ``.gd`` file (or its base) could not be read well enough to derive its RPCs."""


@dataclass
class GDScriptInfo:
    """What :func:`parse_gdscript` found in one script (inheritance not resolved)."""

    path: str
    extends: str | None = None  # the path string or class name after "extends"
    extends_is_path: bool = False
    class_name: str | None = None
    rpc: dict[str, RPCConfig] = field(default_factory=dict)  # own @rpc methods
    functions: list[str] = field(default_factory=list)  # every top-level func
    consts: dict[str, str | int] = field(default_factory=dict)


# -- lexer ----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t]+)
  | (?P<string>(?:[rR]|&|\^)?
        (?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''
          |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
  | (?P<number>0[xX][0-9A-Fa-f_]+|0[bB][01_]+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>.)
    """,
    re.VERBOSE,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


@dataclass
class _Token:
    kind: str
    text: str
    line: int


def _logical_lines(source: str) -> Iterator[tuple[int, int, str]]:
    """Yield ``(line number, indent width, text)`` per logical line, comments removed.

    Strings are kept verbatim (they may span lines when triple-quoted); a line continues
    while brackets are open or after a trailing backslash.
    """
    i, n = 0, len(source)
    line_no = 1
    start_line = 1
    depth = 0
    buf: list[str] = []
    indent: int | None = None
    while i < n:
        c = source[i]
        if indent is None:
            # Measure the indentation of a new logical line.
            j = i
            while j < n and source[j] in " \t":
                j += 1
            indent = j - i
            start_line = line_no
            i = j
            continue
        if c == "#":
            while i < n and source[i] != "\n":
                i += 1
            continue
        if c in "\"'":
            quote = source[i : i + 3] if source[i : i + 3] in ('"""', "'''") else c
            j = i + len(quote)
            while j < n:
                if source[j] == "\\":
                    j += 2
                    continue
                if source.startswith(quote, j):
                    j += len(quote)
                    break
                if source[j] == "\n" and len(quote) == 1:
                    break  # unterminated single-line string: stop at the line end
                j += 1
            else:
                j = n
            text = source[i:j]
            line_no += text.count("\n")
            buf.append(text)
            i = j
            continue
        if c == "\\" and i + 1 < n and source[i + 1] == "\n":
            buf.append(" ")
            i += 2
            line_no += 1
            continue
        if c == "\n":
            line_no += 1
            i += 1
            if depth > 0:
                buf.append(" ")
                continue
            text = "".join(buf).strip()
            if text:
                yield start_line, indent, text
            buf = []
            indent = None
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}" and depth > 0:
            depth -= 1
        buf.append(c)
        i += 1
    text = "".join(buf).strip()
    if text and indent is not None:
        yield start_line, indent, text


def _tokens(text: str, line: int) -> list[_Token]:
    out = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "op"
        if kind != "ws":
            out.append(_Token(kind, match.group(), line))
    return out


def _string_value(token: str) -> str:
    raw = False
    if token[0] in "rR":
        raw, token = True, token[1:]
    elif token[0] in "&^":
        token = token[1:]
    quote = token[:3] if token[:3] in ('"""', "'''") else token[0]
    body = token[len(quote) : len(token) - len(quote)]
    if raw:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u" and i + 6 <= len(body):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt == "U" and i + 8 <= len(body):
                out.append(chr(int(body[i + 2 : i + 8], 16)))
                i += 8
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _int_value(token: str) -> int | None:
    text = token.replace("_", "")
    try:
        if text[:2] in ("0x", "0X"):
            return int(text[2:], 16)
        if text[:2] in ("0b", "0B"):
            return int(text[2:], 2)
        if text.isdigit():
            return int(text)
    except ValueError:
        return None
    return None


# -- parser ---------------------------------------------------------------------------------


@dataclass
class _Annotation:
    name: str
    args: list[list[_Token]]
    line: int


def _split_args(tokens: list[_Token], start: int, where: str) -> tuple[list[list[_Token]], int]:
    """Arguments of ``( ... )`` starting at ``tokens[start]``; returns them and the index after."""
    args: list[list[_Token]] = []
    current: list[_Token] = []
    depth = 0
    i = start + 1
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == "op" and tok.text in "([{":
            depth += 1
        elif tok.kind == "op" and tok.text in ")]}":
            if depth == 0:
                if current:
                    args.append(current)
                return args, i + 1
            depth -= 1
        elif tok.kind == "op" and tok.text == "," and depth == 0:
            args.append(current)
            current = []
            i += 1
            continue
        current.append(tok)
        i += 1
    raise GDScriptParseError(f"{where}: unclosed parenthesis")


def _eval_arg(tokens: list[_Token], consts: dict[str, str | int], where: str
              ) -> str | int:
    if not tokens:
        raise GDScriptParseError(f"{where}: empty @rpc argument")
    sign = 1
    toks = tokens
    if len(toks) == 2 and toks[0].kind == "op" and toks[0].text in "+-":
        sign = -1 if toks[0].text == "-" else 1
        toks = toks[1:]
    if len(toks) == 1:
        tok = toks[0]
        if tok.kind == "string" and sign == 1 and len(tokens) == 1:
            return _string_value(tok.text)
        if tok.kind == "number":
            value = _int_value(tok.text)
            if value is not None:
                return sign * value
        if tok.kind == "name" and tok.text in consts:
            value2 = consts[tok.text]
            if isinstance(value2, int):
                return sign * value2
            if sign == 1 and len(tokens) == 1:
                return value2
    text = " ".join(t.text for t in tokens)
    raise GDScriptParseError(
        f"{where}: cannot evaluate the @rpc argument {text!r} (only string and int literals "
        "and names of top-level const literals are understood)"
    )


def _const_value(tokens: list[_Token]) -> str | int | None:
    # const NAME [: Type] = literal
    try:
        eq = next(i for i, t in enumerate(tokens) if t.kind == "op" and t.text == "=")
    except StopIteration:
        return None
    value = tokens[eq + 1 :]
    if len(value) == 1 and value[0].kind == "string":
        return _string_value(value[0].text)
    sign = 1
    if len(value) == 2 and value[0].kind == "op" and value[0].text in "+-":
        sign = -1 if value[0].text == "-" else 1
        value = value[1:]
    if len(value) == 1 and value[0].kind == "number":
        number = _int_value(value[0].text)
        return None if number is None else sign * number
    return None


def parse_gdscript(source: str, path: str = "<string>") -> GDScriptInfo:
    """Parse one script's top level: ``extends``, ``class_name``, consts, funcs, ``@rpc``.

    Inheritance is not followed (see :func:`load_gdscript_rpc`). Raises
    :class:`GDScriptParseError` for an invalid or unreadable ``@rpc``.
    """
    info = GDScriptInfo(path=path)
    pending: list[_Annotation] = []
    rpc_raw: list[tuple[str, _Annotation]] = []
    for line, indent, text in _logical_lines(source):
        if indent != 0:
            continue
        tokens = _tokens(text, line)
        i = 0
        where = f"{path}:{line}"
        while i < len(tokens) and tokens[i].kind == "op" and tokens[i].text == "@":
            if i + 1 >= len(tokens) or tokens[i + 1].kind != "name":
                raise GDScriptParseError(f"{where}: '@' without an annotation name")
            name = tokens[i + 1].text
            i += 2
            args: list[list[_Token]] = []
            if i < len(tokens) and tokens[i].kind == "op" and tokens[i].text == "(":
                args, i = _split_args(tokens, i, where)
            pending.append(_Annotation(name, args, line))
        rest = tokens[i:]
        if not rest:
            continue
        first = rest[0]
        statement = first.text if first.kind == "name" else ""
        rpcs = [a for a in pending if a.name == "rpc"]
        pending = []
        if statement == "static" and len(rest) > 1 and rest[1].text == "func":
            rest = rest[1:]
            statement = "func"
        if statement == "func":
            if len(rest) < 2 or rest[1].kind != "name":
                raise GDScriptParseError(f"{where}: 'func' without a name")
            fname = rest[1].text
            info.functions.append(fname)
            if len(rpcs) > 1:
                raise GDScriptParseError(
                    f"{where}: RPC annotations can only be used once per function ({fname})"
                )
            if rpcs:
                rpc_raw.append((fname, rpcs[0]))
            continue
        if rpcs:
            raise GDScriptParseError(
                f'{where}: "@rpc" annotation can only be applied to functions'
            )
        if statement == "class_name" and len(rest) > 1 and rest[1].kind == "name":
            info.class_name = rest[1].text
            rest = rest[2:]
            if rest and rest[0].text == "extends":
                statement = "extends"
        if statement == "extends" and len(rest) > 1:
            target = rest[1]
            if target.kind == "string":
                info.extends = _string_value(target.text)
                info.extends_is_path = True
            elif target.kind == "name":
                dotted = [target.text]
                j = 2
                while j + 1 < len(rest) and rest[j].text == "." and rest[j + 1].kind == "name":
                    dotted.append(rest[j + 1].text)
                    j += 2
                info.extends = ".".join(dotted)
                info.extends_is_path = False
        elif statement == "const" and len(rest) > 1 and rest[1].kind == "name":
            value = _const_value(rest[2:])
            if value is not None:
                info.consts[rest[1].text] = value
    for fname, annotation in rpc_raw:
        where = f"{path}:{annotation.line}"
        values = [_eval_arg(arg, info.consts, where) for arg in annotation.args]
        try:
            info.rpc[fname] = RPCConfig.from_annotation(*values)
        except RPCConfigError as exc:
            raise GDScriptParseError(f"{where}: @rpc on {fname}: {exc}") from None
    return info


# -- files and inheritance ------------------------------------------------------------------


def find_project_root(script: str | os.PathLike[str]) -> Path | None:
    """The nearest folder at or above ``script`` that holds ``project.godot``, or None."""
    folder = Path(script).resolve().parent
    for _ in range(_MAX_PARENT_DIRS):
        if (folder / "project.godot").is_file():
            return folder
        if folder.parent == folder:
            return None
        folder = folder.parent
    return None


_CLASS_NAME = re.compile(r"^class_name\s+([A-Za-z_][A-Za-z_0-9]*)", re.MULTILINE)


def _class_index(root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    seen = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.endswith(".gd"):
                continue
            seen += 1
            if seen > _MAX_PROJECT_FILES:
                return index
            file = Path(folder) / name
            try:
                text = file.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for match in _CLASS_NAME.finditer(text):
                index.setdefault(match.group(1), file)
    return index


def _resolve_path(target: str, script: Path, root: Path | None) -> Path:
    if target.startswith("res://"):
        if root is None:
            raise GDScriptParseError(
                f"{script}: extends {target!r} but no project.godot was found above the "
                "script; pass project_root="
            )
        return root / target[len("res://") :]
    if target.startswith("uid://"):
        raise GDScriptParseError(f"{script}: extends by uid ({target}) is not supported")
    return script.parent / target


def load_gdscript_rpc(
    script: str | os.PathLike[str],
    project_root: str | os.PathLike[str] | None = None,
) -> dict[str, RPCConfig]:
    """The ``@rpc`` methods of a ``.gd`` script, inherited ones included (GDScript's
    ``get_rpc_config()``): pass the result as ``script_rpc`` to ``register_node``.

    ``project_root`` (the folder with ``project.godot``, for ``res://`` paths and
    ``class_name`` bases) is found above the script when not given. A base that is an
    engine class (``Node``, ``Control``...) contributes nothing. Raises
    :class:`GDScriptParseError` or ``OSError``.
    """
    path = Path(script).resolve()
    root = Path(project_root).resolve() if project_root is not None else find_project_root(path)
    classes: dict[str, Path] | None = None
    chain: list[GDScriptInfo] = []
    visited: set[Path] = set()
    current: Path | None = path
    while current is not None:
        if current in visited:
            raise GDScriptParseError(f"{current}: cyclic inheritance")
        if len(chain) >= _MAX_INHERITANCE:
            raise GDScriptParseError(f"{path}: inheritance deeper than {_MAX_INHERITANCE}")
        visited.add(current)
        info = parse_gdscript(current.read_text(encoding="utf-8"), str(current))
        chain.append(info)
        nxt: Path | None = None
        if info.extends is not None:
            if info.extends_is_path:
                nxt = _resolve_path(info.extends, current, root)
            else:
                base_name = info.extends.split(".")[0]
                if root is not None:
                    if classes is None:
                        classes = _class_index(root)
                    nxt = classes.get(base_name)
        current = nxt.resolve() if nxt is not None else None
    configs: dict[str, RPCConfig] = {}
    for info in reversed(chain):
        configs.update(info.rpc)
    return configs

