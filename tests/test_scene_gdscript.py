"""Reading @rpc declarations from .gd files (godot_websocket.scene.gdscript_rpc)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from godot_websocket.scene import (
    GDScriptParseError,
    RPCConfig,
    RPCMode,
    RPCTable,
    TransferMode,
    load_gdscript_rpc,
    parse_gdscript,
)
from godot_websocket.scene.gdscript_rpc import find_project_root

ROOT = Path(__file__).resolve().parent.parent
ANY = RPCMode.RPC_MODE_ANY_PEER
AUTH = RPCMode.RPC_MODE_AUTHORITY

SOURCE = '''extends Node
class_name Lobby
## A lobby. "@rpc func in_a_doc_comment()" is not a declaration.

const CHANNEL := 3
const MODE = "any_peer"
const TEXT = """
@rpc
func inside_a_string():
"""

@rpc("any_peer") func same_line(n: int) -> void:
	pass

@rpc
func defaults() -> void:
	pass  # @rpc func in_a_comment()

@rpc(MODE, "call_local",
		"unreliable_ordered", CHANNEL)
func multi_line_args() -> void:
	var s := "@rpc func in_code()"

@warning_ignore("unused_parameter")
@rpc(&"authority", 'call_remote', "unreliable")
static func stacked(a, b) -> void:
	pass

@export var not_rpc := 1

func plain() -> void:
	pass

class Inner:
	@rpc("any_peer")
	func inner_method() -> void:
		pass

@rpc("any_peer", \\
	"call_local") func continued() -> void:
	pass

@rpc("any_peer")
# a comment and a blank line between the annotation and its function

func grüßen(wer: String = "du") -> void:
	pass
'''


def test_parse_every_form() -> None:
    info = parse_gdscript(SOURCE, "lobby.gd")
    assert info.extends == "Node" and not info.extends_is_path
    assert info.class_name == "Lobby"
    assert info.consts == {"CHANNEL": 3, "MODE": "any_peer",
                           "TEXT": "\n@rpc\nfunc inside_a_string():\n"}
    assert info.functions == ["same_line", "defaults", "multi_line_args", "stacked", "plain",
                              "continued", "grüßen"]
    assert info.rpc == {
        "same_line": RPCConfig(ANY),
        "defaults": RPCConfig(),
        "multi_line_args": RPCConfig(ANY, TransferMode.TRANSFER_MODE_UNRELIABLE_ORDERED, True, 3),
        "stacked": RPCConfig(AUTH, TransferMode.TRANSFER_MODE_UNRELIABLE, False, 0),
        "continued": RPCConfig(ANY, call_local=True),
        "grüßen": RPCConfig(ANY),
    }


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("@rpc\nvar x = 1\n", "can only be applied to functions"),
        ("@rpc\n@rpc\nfunc f():\n\tpass\n", "only be used once per function"),
        ('@rpc("sometimes")\nfunc f():\n\tpass\n', "invalid @rpc argument 'sometimes'"),
        ('@rpc("any_peer", "unreliable_ordered", 3)\nfunc f():\n\tpass\n',
         "argument 3 of @rpc should be \"String\""),
        ('@rpc("any_peer", "authority")\nfunc f():\n\tpass\n', "more than one mode"),
        ("@rpc(get_mode())\nfunc f():\n\tpass\n", "cannot evaluate the @rpc argument"),
        ('@rpc("any_peer"\nfunc f():\n\tpass\n', "unclosed parenthesis"),
    ],
)
def test_parse_errors(source: str, message: str) -> None:
    with pytest.raises(GDScriptParseError, match=message) as info:
        parse_gdscript(source, "bad.gd")
    assert "bad.gd:" in str(info.value)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path, "project.godot", "config_version=5\n")
    write(tmp_path, "base.gd", 'extends Node\nclass_name Base\n\n@rpc\nfunc base_b():\n\tpass\n'
          '\n@rpc("any_peer")\nfunc zz_base():\n\tpass\n\n@rpc\nfunc redeclared():\n\tpass\n')
    return tmp_path


@pytest.mark.parametrize("extends", ['"res://base.gd"', '"../base.gd"', "Base"])
def test_inherited_rpcs(project: Path, extends: str) -> None:
    child = write(project, "sub/child.gd",
                  f"extends {extends}\n\n@rpc(\"any_peer\", \"call_local\")\nfunc child_a():\n"
                  "\tpass\n\n@rpc(\"any_peer\")\nfunc redeclared():\n\tpass\n\n"
                  "func zz_base():\n\tpass  # overridden without @rpc: still an RPC\n")
    configs = load_gdscript_rpc(child)
    assert configs == {
        "base_b": RPCConfig(),
        "zz_base": RPCConfig(ANY),
        "redeclared": RPCConfig(ANY),
        "child_a": RPCConfig(ANY, call_local=True),
    }
    # The spec's 4.6.stable example: base_b=0, child_a=1, (redeclared), zz_base=last.
    table = RPCTable(configs)
    assert [(m.name, m.id) for m in table] == [("base_b", 0), ("child_a", 1),
                                               ("redeclared", 2), ("zz_base", 3)]
    assert find_project_root(child) == project


def test_engine_base_and_cycles(project: Path) -> None:
    plain = write(project, "plain.gd", "extends Control\n@rpc\nfunc only():\n\tpass\n")
    assert list(load_gdscript_rpc(plain)) == ["only"]
    write(project, "a.gd", 'extends "b.gd"\n')
    b = write(project, "b.gd", 'extends "a.gd"\n')
    with pytest.raises(GDScriptParseError, match="cyclic"):
        load_gdscript_rpc(b)
    orphan = write(project.parent / "elsewhere", "o.gd", 'extends "res://base.gd"\n')
    with pytest.raises(GDScriptParseError, match=r"no project\.godot"):
        load_gdscript_rpc(orphan)
    assert list(load_gdscript_rpc(orphan, project_root=project)) == [
        "base_b", "zz_base", "redeclared"]


def test_the_demo_scripts() -> None:
    e2e = load_gdscript_rpc(ROOT / "godot_demo" / "scene" / "e2e_client.gd")
    assert sorted(e2e) == ["c2s_bytes", "c2s_none", "c2s_types", "chat", "s2c_bytes",
                           "s2c_done", "s2c_none", "s2c_types"]
    assert e2e["chat"] == RPCConfig(ANY)
    extra = load_gdscript_rpc(ROOT / "godot_demo" / "scene" / "e2e_client_extra.gd")
    assert sorted(extra) == ["added_later", *sorted(e2e)]


def test_command_line_table(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    from godot_websocket.scene.__main__ import main

    assert main([str(ROOT / "godot_demo" / "scene" / "chat.gd")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        '    0  join  @rpc("any_peer")',
        "    1  lobby  @rpc",
        "    2  message  @rpc",
        "    3  rejected  @rpc",
        '    4  say  @rpc("any_peer")',
        '    5  whisper  @rpc("any_peer")',
        "md5 " + RPCTable(load_gdscript_rpc(ROOT / "godot_demo/scene/chat.gd")).checksum,
    ]
    assert RPCTable(load_gdscript_rpc(ROOT / "godot_demo/scene/chat.gd")).checksum == \
        hashlib.md5(b"joinlobbymessagerejectedsaywhisper").hexdigest()
    bad = write(project, "bad.gd", "@rpc(nope)\nfunc f():\n\tpass\n")
    assert main([str(bad)]) == 1
    assert "cannot evaluate the @rpc argument 'nope'" in capsys.readouterr().out
