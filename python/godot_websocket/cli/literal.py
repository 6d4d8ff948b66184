"""A safe parser for Variant values written on the command line (``--send-var``).

Accepted, recursively::

    42   -7   3.5   1e-3   INF   NAN   PI   TAU       numbers (int is int64, float is float)
    "text"   'text'                                   String
    true  false  null   (also True False None)        bool / Nil
    b"\\x01\\x02"                                      PackedByteArray
    [1, "a", [2]]   (1, 2)                            Array
    {"hp": 100, 3: Vector2(1, 2)}                     Dictionary
    Vector2(1, 2)   Color(1, 0, 0)   NodePath("a/b")  value classes (see CONSTRUCTORS)
    &"name"   ^"path"                                 GDScript StringName / NodePath literals

The text is parsed with :func:`ast.parse` and the tree is walked by hand: only the node
types above are accepted and the only calls made are the constructors of
:data:`CONSTRUCTORS`, with arguments that are themselves parsed values. Nothing is ever
evaluated, imported or looked up by name.
"""

from __future__ import annotations

import ast
import io
import math
import tokenize
from typing import Any, Callable

from .. import variant as _v

__all__ = ["CONSTRUCTORS", "LiteralError", "parse_value"]

MAX_TEXT = 1_000_000
MAX_DEPTH = 100


class LiteralError(ValueError):
    """The text is not a value this parser accepts."""


def _packed_byte_array(values: Any = ()) -> bytes:
    return bytes(values)


#: The calls ``parse_value`` accepts, by name.
CONSTRUCTORS: dict[str, Callable[..., Any]] = {
    name: getattr(_v, name)
    for name in (
        "Vector2", "Vector2i", "Vector3", "Vector3i", "Vector4", "Vector4i", "Color",
        "Rect2", "Rect2i", "Quaternion", "Plane", "AABB", "Basis", "Transform2D",
        "Transform3D", "Projection", "StringName", "NodePath", "RID",
        "PackedInt32Array", "PackedInt64Array", "PackedFloat32Array", "PackedFloat64Array",
        "PackedStringArray", "PackedVector2Array", "PackedVector3Array", "PackedColorArray",
        "PackedVector4Array",
    )
}  # fmt: skip
CONSTRUCTORS["PackedByteArray"] = _packed_byte_array

_NAMES: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
    "INF": math.inf,
    "NAN": math.nan,
    "PI": math.pi,
    "TAU": math.tau,
}

# Tokens after which a "&" or "^" starts a GDScript literal rather than being an operator.
_OPENERS = frozenset({"(", "[", "{", ",", ":"})


def _gdscript_prefixes(text: str) -> str:
    """Rewrite ``&"x"`` to ``StringName("x")`` and ``^"x"`` to ``NodePath("x")``."""
    if "&" not in text and "^" not in text:
        return text
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return text
    result: list[tuple[int, str]] = []
    previous: tokenize.TokenInfo | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if (
            tok.type == tokenize.OP
            and tok.string in ("&", "^")
            and nxt is not None
            and nxt.type == tokenize.STRING
            and (previous is None or (previous.type == tokenize.OP and previous.string in _OPENERS))
        ):
            name = "StringName" if tok.string == "&" else "NodePath"
            result += [
                (tokenize.NAME, name),
                (tokenize.OP, "("),
                (tokenize.STRING, nxt.string),
                (tokenize.OP, ")"),
            ]
            previous = nxt
            i += 2
            continue
        result.append((tok.type, tok.string))
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT):
            previous = tok
        i += 1
    return str(tokenize.untokenize(result))


def parse_value(text: str) -> Any:
    """Parse ``text`` into a value :func:`~godot_websocket.variant.encode_variant` accepts.

    Raises :class:`LiteralError` with a one-line reason.
    """
    if len(text) > MAX_TEXT:
        raise LiteralError(f"value longer than {MAX_TEXT} characters")
    source = _gdscript_prefixes(text.strip())
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as e:
        where = f" at column {e.offset}" if e.offset else ""
        raise LiteralError(f"cannot parse {text!r}: {e.msg}{where}") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise LiteralError(f"cannot parse {text!r}: {e}") from None
    return _convert(tree.body, 0)


def _convert(node: ast.expr, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise LiteralError(f"value nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, (bool, int, float, str, bytes)) or value is None:
            return value
        raise LiteralError(f"unsupported constant {value!r}")
    if isinstance(node, ast.Name):
        if node.id in _NAMES:
            return _NAMES[node.id]
        raise LiteralError(f"unknown name {node.id!r} (strings need quotes)")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _convert(node.operand, depth + 1)
        if isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise LiteralError("a sign can only go before a number")
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_convert(item, depth + 1) for item in node.elts]
    if isinstance(node, ast.Dict):
        result: dict[Any, Any] = {}
        for key_node, value_node in zip(node.keys, node.values):
            if key_node is None:
                raise LiteralError("'**' is not supported in a Dictionary")
            key = _convert(key_node, depth + 1)
            value = _convert(value_node, depth + 1)
            try:
                result[key] = value
            except TypeError:
                raise LiteralError(f"{ast.unparse(key_node)} cannot be a Dictionary key") from None
        return result
    if isinstance(node, ast.Call):
        return _call(node, depth)
    if isinstance(node, ast.Starred):
        raise LiteralError("'*' is not supported")
    raise LiteralError(f"unsupported expression {ast.unparse(node)!r}")


def _call(node: ast.Call, depth: int) -> Any:
    if not isinstance(node.func, ast.Name) or node.func.id not in CONSTRUCTORS:
        raise LiteralError(
            f"unknown constructor {ast.unparse(node.func)!r} "
            f"(known: {', '.join(sorted(CONSTRUCTORS))})"
        )
    name = node.func.id
    if node.keywords:
        raise LiteralError(f"{name}(): keyword arguments are not supported")
    args = [_convert(arg, depth + 1) for arg in node.args]
    try:
        return CONSTRUCTORS[name](*args)
    except (TypeError, ValueError, OverflowError) as e:
        raise LiteralError(f"{name}(): {e}") from None
