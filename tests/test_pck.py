"""Unit tests for godot_websocket.pck, the Godot 4 .pck (format 3) writer.

The packs are checked byte for byte where the layout is fixed, and otherwise parsed back with
a small reader written here from the format description (shared/spec/godot-web-engine.md and
Godot's core/io/file_access_pack.cpp), independent of the writer.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import struct
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _import_pck() -> ModuleType:
    try:
        return importlib.import_module("godot_websocket.pck")
    except ImportError:
        # The package's compiled core is not built here; the packer itself is pure Python.
        path = REPO_ROOT / "python" / "godot_websocket" / "pck.py"
        spec = importlib.util.spec_from_file_location("_godot_websocket_pck", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


pck = _import_pck()


# ----------------------------------------------------------------- independent reader


class Entry(NamedTuple):
    path: str
    offset: int  # relative to the file-data area
    size: int
    md5: bytes
    flags: int
    raw_path_length: int


class Parsed(NamedTuple):
    version: int
    engine: tuple[int, int, int]
    flags: int
    file_base: int
    dir_offset: int
    reserved: bytes
    entries: list[Entry]
    files: dict[str, bytes]


def read_pck(blob: bytes) -> Parsed:
    """Parse a format-3 pack the way Godot's PackedSourcePCK::try_open_pack does."""
    assert blob[:4] == b"GDPC", "magic"
    version, major, minor, patch, flags = struct.unpack_from("<5I", blob, 4)
    file_base, dir_offset = struct.unpack_from("<QQ", blob, 24)
    reserved = blob[40:104]
    (count,) = struct.unpack_from("<I", blob, dir_offset)
    position = dir_offset + 4
    entries: list[Entry] = []
    files: dict[str, bytes] = {}
    for _ in range(count):
        (length,) = struct.unpack_from("<I", blob, position)
        position += 4
        raw = blob[position : position + length]
        position += length
        path = raw.rstrip(b"\0").decode("utf-8")
        offset, size = struct.unpack_from("<QQ", blob, position)
        md5 = blob[position + 16 : position + 32]
        (file_flags,) = struct.unpack_from("<I", blob, position + 32)
        position += 36
        entries.append(Entry(path, offset, size, md5, file_flags, length))
        files[path] = blob[file_base + offset : file_base + offset + size]
    assert position == len(blob), "the directory ends the pack"
    return Parsed(
        version, (major, minor, patch), flags, file_base, dir_offset, reserved, entries, files
    )


# ----------------------------------------------------------------- exact bytes


def test_empty_pack_exact_bytes() -> None:
    blob = pck.build_pck({})
    expected = (
        b"GDPC"
        + struct.pack("<5I", 3, 4, 4, 0, 2)  # format 3, engine 4.4.0, PACK_REL_FILEBASE
        + struct.pack("<QQ", 112, 112)  # file data at 112, directory right after (empty data)
        + bytes(64)  # 16 reserved u32
        + bytes(8)  # header (104) padded to 16
        + struct.pack("<I", 0)  # no files
    )
    assert blob == expected
    assert len(blob) == 116


def test_single_file_exact_bytes() -> None:
    blob = pck.build_pck({"res://a.txt": b"hello"}, engine_version=(4, 6, 1))
    expected = (
        b"GDPC"
        + struct.pack("<5I", 3, 4, 6, 1, 2)
        + struct.pack("<QQ", 112, 128)
        + bytes(64)
        + bytes(8)
        + b"hello"
        + bytes(11)  # padded to 16
        + struct.pack("<I", 1)
        + struct.pack("<I", 8)  # "a.txt" is 5 bytes, padded to 8
        + b"a.txt\0\0\0"
        + struct.pack("<QQ", 0, 5)
        + hashlib.md5(b"hello").digest()
        + struct.pack("<I", 0)
    )
    assert blob == expected


def test_header_constants() -> None:
    assert pck.PACK_HEADER_MAGIC == b"GDPC"
    assert pck.PACK_FORMAT_VERSION == 3
    assert pck.PACK_REL_FILEBASE == 2
    assert pck.PACK_HEADER_SIZE == 104
    assert pck.PACK_ALIGNMENT == 16
    assert pck.DEFAULT_ENGINE_VERSION == (4, 4, 0)


# ----------------------------------------------------------------- layout


SIZES = [0, 1, 15, 16, 17, 31, 32, 33, 1000]


def sample_files() -> dict[str, bytes]:
    return {
        f"dir{size % 3}/file_{size}.bin": bytes((size + i) % 251 for i in range(size))
        for size in SIZES
    }


def test_alignment_and_padding() -> None:
    files = sample_files()
    blob = pck.build_pck(files)
    parsed = read_pck(blob)
    assert parsed.file_base == 112
    assert all(byte == 0 for byte in blob[104:112])
    assert parsed.reserved == bytes(64)
    data_area = sum((size + 15) // 16 * 16 for size in SIZES)
    assert parsed.dir_offset == 112 + data_area
    entries = sorted(parsed.entries, key=lambda entry: entry.offset)
    for entry, following in zip(entries, [*entries[1:], None]):
        start = parsed.file_base + entry.offset
        assert start % 16 == 0, entry
        end = start + entry.size
        limit = parsed.dir_offset if following is None else parsed.file_base + following.offset
        assert limit - end < 16
        assert blob[end:limit] == bytes(limit - end), f"padding after {entry.path} is zero"
    for entry in parsed.entries:
        assert entry.raw_path_length % 4 == 0
        assert entry.raw_path_length - len(entry.path.encode()) in range(4)
        assert entry.flags == 0


def test_directory_is_sorted_and_output_deterministic() -> None:
    files = sample_files()
    reversed_files = dict(reversed(list(files.items())))
    blob = pck.build_pck(files)
    assert pck.build_pck(reversed_files) == blob
    parsed = read_pck(blob)
    assert [entry.path for entry in parsed.entries] == sorted(files)
    offsets = [entry.offset for entry in parsed.entries]
    assert offsets == sorted(offsets)


def test_round_trip_with_independent_reader() -> None:
    files = {
        "project.godot": b"config_version=5\n",
        "res://scenes/main.tscn": b"[gd_scene format=3]\n",
        "donn\u00e9es/\u00e9t\u00e9.gd": "extends Node # \u00e9\n".encode(),
        "empty.txt": b"",
        "bin/blob.bin": bytes(range(256)) * 3,
        "windows\\style.cfg": b"x=1",
    }
    parsed = read_pck(pck.build_pck(files))
    assert parsed.version == 3
    assert parsed.engine == (4, 4, 0)
    assert parsed.flags == 2
    expected = {pck.normalize_pack_path(path): data for path, data in files.items()}
    assert parsed.files == expected
    assert set(expected) == {
        "project.godot",
        "scenes/main.tscn",
        "donn\u00e9es/\u00e9t\u00e9.gd",
        "empty.txt",
        "bin/blob.bin",
        "windows/style.cfg",
    }
    for entry in parsed.entries:
        assert entry.md5 == hashlib.md5(expected[entry.path]).digest()
        assert entry.size == len(expected[entry.path])


# ----------------------------------------------------------------- paths and arguments


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("main.gd", "main.gd"),
        ("res://main.gd", "main.gd"),
        ("res://a/b/c.tscn", "a/b/c.tscn"),
        ("a\\b.gd", "a/b.gd"),
        (".godot/global_script_class_cache.cfg", ".godot/global_script_class_cache.cfg"),
    ],
)
def test_normalize_pack_path(given: str, stored: str) -> None:
    assert pck.normalize_pack_path(given) == stored


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "res://",
        "/abs.gd",
        "res:///abs.gd",
        "../up.gd",
        "a/../b.gd",
        "a//b.gd",
        "a/./b",
        "dir/",
        "a\0b",
    ],
)
def test_bad_paths_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        pck.normalize_pack_path(bad)
    with pytest.raises(ValueError):
        pck.build_pck({bad: b""})


def test_duplicate_paths_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        pck.build_pck({"main.gd": b"a", "res://main.gd": b"b"})


def test_contents_must_be_bytes() -> None:
    with pytest.raises(TypeError):
        pck.build_pck({"main.gd": "text"})
    parsed = read_pck(pck.build_pck({"a": bytearray(b"xy"), "b": memoryview(b"z")}))
    assert parsed.files == {"a": b"xy", "b": b"z"}


@pytest.mark.parametrize("version", [(4, 6), (4, 6, 0, 0), (4, -1, 0), (4, 2**32, 0)])
def test_bad_engine_version_value(version: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        pck.build_pck({}, engine_version=version)


@pytest.mark.parametrize("version", [(4, 6.0, 0), (True, 6, 0), ("4", 6, 0)])
def test_bad_engine_version_type(version: tuple[object, ...]) -> None:
    with pytest.raises(TypeError):
        pck.build_pck({}, engine_version=version)


# ----------------------------------------------------------------- files and folders


def test_write_pck(tmp_path: Path) -> None:
    out = tmp_path / "game.pck"
    size = pck.write_pck(out, {"a.gd": b"extends Node\n"}, engine_version=(4, 6, 0))
    assert out.read_bytes() == pck.build_pck({"a.gd": b"extends Node\n"}, (4, 6, 0))
    assert size == out.stat().st_size
    assert sorted(path.name for path in tmp_path.iterdir()) == ["game.pck"]


def make_project(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".godot" / "editor").mkdir(parents=True)
    (root / ".hidden_dir").mkdir()
    (root / "project.godot").write_bytes(
        b'config_version=5\n[application]\nrun/main_scene="res://main.tscn"\n'
    )
    (root / "main.gd").write_bytes(b"extends Node\n")
    (root / "main.tscn").write_bytes(b"[gd_scene format=3]\n")
    (root / "sub" / "deeper" / "thing.tres").write_bytes(b"[gd_resource format=3]\n")
    (root / ".godot" / "editor" / "cache.cfg").write_bytes(b"editor state")
    (root / ".godot" / "uid_cache.bin").write_bytes(b"uids")
    (root / ".hidden_dir" / "file.txt").write_bytes(b"hidden")
    (root / ".gitignore").write_bytes(b".godot/\n")


def test_collect_directory_skips_hidden_and_adds_class_cache(tmp_path: Path) -> None:
    make_project(tmp_path)
    files = pck.collect_directory(tmp_path)
    assert sorted(files) == [
        ".godot/global_script_class_cache.cfg",
        "main.gd",
        "main.tscn",
        "project.godot",
        "sub/deeper/thing.tres",
    ]
    assert files[".godot/global_script_class_cache.cfg"] == pck.EMPTY_SCRIPT_CLASS_CACHE
    assert files["main.gd"] == b"extends Node\n"

    without = pck.collect_directory(tmp_path, add_script_class_cache=False)
    assert sorted(without) == ["main.gd", "main.tscn", "project.godot", "sub/deeper/thing.tres"]


def test_collect_directory_custom_exclude(tmp_path: Path) -> None:
    make_project(tmp_path)
    seen: list[str] = []

    def exclude(path: str) -> bool:
        seen.append(path)
        return path == "sub" or path.endswith(".tscn")

    files = pck.collect_directory(tmp_path, exclude=exclude, add_script_class_cache=False)
    # The custom rule replaces the default one: hidden files are packed now.
    assert sorted(files) == [
        ".gitignore",
        ".godot/editor/cache.cfg",
        ".godot/uid_cache.bin",
        ".hidden_dir/file.txt",
        "main.gd",
        "project.godot",
    ]
    assert "sub" in seen and "sub/deeper" not in seen  # an excluded folder is not entered


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_collect_directory_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir" / "x.gd").write_bytes(b"x")
    (outside / "linked.gd").write_bytes(b"linked")
    project = tmp_path / "project"
    project.mkdir()
    (project / "link.gd").symlink_to(outside / "linked.gd")
    (project / "dirlink").symlink_to(outside / "dir", target_is_directory=True)
    files = pck.collect_directory(project, add_script_class_cache=False)
    assert files == {"link.gd": b"linked"}


def test_collect_directory_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        pck.collect_directory(tmp_path / "missing")


def test_pack_directory_round_trip(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    make_project(project)
    out = tmp_path / "out.pck"
    packed = pck.pack_directory(project, out, engine_version=(4, 5, 0))
    parsed = read_pck(out.read_bytes())
    assert parsed.files == packed
    assert parsed.engine == (4, 5, 0)
    assert "project.godot" in parsed.files


def test_pack_directory_warns_without_project_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.gd").write_bytes(b"extends Node\n")
    with caplog.at_level(logging.DEBUG, logger="godot_websocket"):
        pck.pack_directory(project, tmp_path / "out.pck")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "project.godot" in warnings[0].getMessage()
    assert all(record.name == "godot_websocket" for record in caplog.records)
    assert capsys.readouterr() == ("", "")  # library code prints nothing


def test_demo_project_packs() -> None:
    """The real godot_demo/ packs with its main scene and scripts, and no editor cache."""
    files = pck.collect_directory(REPO_ROOT / "godot_demo")
    assert {"project.godot", "main.tscn", "main.gd", "client.tscn", "client.gd"} <= set(files)
    assert b'run/main_scene="res://main.tscn"' in files["project.godot"]
    assert b"config_version=5" in files["project.godot"]
    assert not any(
        path.startswith(".godot/") and path != pck.SCRIPT_CLASS_CACHE_PATH for path in files
    )
    assert ".gitignore" not in files
    assert read_pck(pck.build_pck(files)).files == files
