"""A small writer for Godot 4 ``.pck`` resource packs (pack format 3).

A ``.pck`` is the file a Godot export loads its project from (``res://``). This module
writes one without the Godot editor, so tests and tools can run a Godot project from
plain source files (``project.godot``, ``.gd`` scripts, text ``.tscn`` scenes), for example
with the engine's web build (see ``tests/e2e/``).

Pack format 3 is read by Godot 4.4 and later. Everything is little-endian::

    offset  size  field
    0       4     magic b"GDPC"
    4       4     u32 pack format version (3)
    8       12    u32 engine major, minor, patch (the engine refuses a newer major.minor)
    20      4     u32 pack flags (PACK_REL_FILEBASE: offsets are relative to the pack start)
    24      8     u64 offset of the file-data area
    32      8     u64 offset of the directory
    40      64    16 reserved u32, all zero
    104     ...   zero padding up to the 16-byte aligned start of the file data (112)

    file data   each file's bytes, each padded with zeros to a 16-byte boundary
    directory   u32 file count, then per file:
                u32 path length (padded to a multiple of 4), the path without "res://"
                (UTF-8, NUL padded), u64 offset relative to the file-data area, u64 size,
                16-byte MD5 of the contents, u32 file flags (0)

The output is deterministic: files are written in sorted path order, so packing the same
inputs twice gives identical bytes.

Only plain files are packed. Resources that Godot *imports* (textures, audio, ...) need the
editor's import step and are not converted here; scripts, text scenes, text resources and
``project.godot`` load straight from a pack.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

__all__ = [
    "DEFAULT_ENGINE_VERSION",
    "EMPTY_SCRIPT_CLASS_CACHE",
    "PACK_ALIGNMENT",
    "PACK_FORMAT_VERSION",
    "PACK_HEADER_MAGIC",
    "PACK_HEADER_SIZE",
    "PACK_REL_FILEBASE",
    "SCRIPT_CLASS_CACHE_PATH",
    "build_pck",
    "collect_directory",
    "normalize_pack_path",
    "pack_directory",
    "write_pck",
]

logger = logging.getLogger("godot_websocket")

PACK_HEADER_MAGIC = b"GDPC"
"""The four bytes every ``.pck`` starts with (``0x43504447`` read as a little-endian u32)."""

PACK_FORMAT_VERSION = 3
"""The pack format written here (Godot 4.4 and later read it)."""

PACK_REL_FILEBASE = 1 << 1
"""Pack flag: offsets are relative to the start of the pack (always set in format 3)."""

PACK_HEADER_SIZE = 104
"""Size of the header in bytes, reserved words included."""

PACK_ALIGNMENT = 16
"""The file-data area and every file in it start at a multiple of this many bytes."""

DEFAULT_ENGINE_VERSION: tuple[int, int, int] = (4, 4, 0)
"""Engine version written into the header by default.

The engine refuses a pack whose major.minor is newer than itself, and format 3 exists
since 4.4, so 4.4.0 is accepted by every engine that can read the format.
"""

SCRIPT_CLASS_CACHE_PATH = ".godot/global_script_class_cache.cfg"
"""Where an exported project keeps the list of global script classes (``class_name``)."""

EMPTY_SCRIPT_CLASS_CACHE = b"list=[]\n"
"""An empty global script class cache; without one the engine logs a harmless error."""

_HEADER = struct.Struct("<4s5IQQ64x")
_ENTRY_TAIL = struct.Struct("<QQ16sI")

assert _HEADER.size == PACK_HEADER_SIZE


def _align(value: int, alignment: int = PACK_ALIGNMENT) -> int:
    """Round ``value`` up to the next multiple of ``alignment``."""
    return (value + alignment - 1) // alignment * alignment


def normalize_pack_path(path: str) -> str:
    """Return the path of a file as it is stored in a pack: relative, ``/``-separated.

    A leading ``res://`` is removed and backslashes become slashes. Empty paths, absolute
    paths, and paths with empty, ``.`` or ``..`` components are rejected with
    :class:`ValueError`, because the engine would store them under a different name than
    the one given.
    """
    if not isinstance(path, str):
        raise TypeError(f"pack path must be a str, not {type(path).__name__}")
    text = path.removeprefix("res://").replace("\\", "/")
    if not text:
        raise ValueError(f"empty pack path: {path!r}")
    if text.startswith("/"):
        raise ValueError(f"pack path must be relative to res://: {path!r}")
    parts = text.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"pack path has an empty, '.' or '..' component: {path!r}")
    if "\x00" in text:
        raise ValueError(f"pack path contains a NUL character: {path!r}")
    return text


def _check_engine_version(engine_version: tuple[int, int, int]) -> tuple[int, int, int]:
    if len(engine_version) != 3:
        raise ValueError(f"engine_version must be (major, minor, patch), got {engine_version!r}")
    for number in engine_version:
        if not isinstance(number, int) or isinstance(number, bool):
            raise TypeError(f"engine_version parts must be int, got {engine_version!r}")
        if not 0 <= number <= 0xFFFFFFFF:
            raise ValueError(f"engine_version parts must fit in a u32, got {engine_version!r}")
    major, minor, patch = engine_version
    return major, minor, patch


def build_pck(
    files: Mapping[str, bytes],
    engine_version: tuple[int, int, int] = DEFAULT_ENGINE_VERSION,
) -> bytes:
    """Return the bytes of a format-3 ``.pck`` holding ``files``.

    ``files`` maps a path inside the project (``"main.gd"``, ``"res://scenes/a.tscn"``)
    to the file's contents. Paths are normalized with :func:`normalize_pack_path`; two
    keys that name the same file raise :class:`ValueError`.
    """
    major, minor, patch = _check_engine_version(engine_version)
    entries: dict[str, bytes] = {}
    for raw_path, data in files.items():
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"contents of {raw_path!r} must be bytes, not {type(data).__name__}")
        path = normalize_pack_path(raw_path)
        if path in entries:
            raise ValueError(f"duplicate pack path: {path!r}")
        entries[path] = bytes(data)

    file_base = _align(PACK_HEADER_SIZE)
    data_area = bytearray()
    directory = bytearray(struct.pack("<I", len(entries)))
    for path in sorted(entries):
        data = entries[path]
        offset = len(data_area)
        data_area += data
        data_area += bytes(_align(len(data_area)) - len(data_area))
        encoded = path.encode("utf-8")
        padded_length = _align(len(encoded), 4)
        directory += struct.pack("<I", padded_length)
        directory += encoded + bytes(padded_length - len(encoded))
        directory += _ENTRY_TAIL.pack(offset, len(data), hashlib.md5(data).digest(), 0)

    dir_offset = file_base + len(data_area)
    header = _HEADER.pack(
        PACK_HEADER_MAGIC,
        PACK_FORMAT_VERSION,
        major,
        minor,
        patch,
        PACK_REL_FILEBASE,
        file_base,
        dir_offset,
    )
    return header + bytes(file_base - len(header)) + bytes(data_area) + bytes(directory)


def write_pck(
    out_path: str | os.PathLike[str],
    files: Mapping[str, bytes],
    engine_version: tuple[int, int, int] = DEFAULT_ENGINE_VERSION,
) -> int:
    """Write a format-3 ``.pck`` holding ``files`` to ``out_path``; return its size in bytes.

    See :func:`build_pck` for ``files`` and ``engine_version``. The file is written to a
    temporary name next to ``out_path`` and renamed into place, so a reader never sees a
    half-written pack.
    """
    blob = build_pck(files, engine_version)
    target = Path(out_path)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(blob)
    os.replace(partial, target)
    logger.debug("wrote %s: %d files, %d bytes", target, len(files), len(blob))
    return len(blob)


def _default_exclude(relative_path: str) -> bool:
    """Skip hidden files and folders (``.godot/``, ``.git/``, ``.gitignore``, ...)."""
    return any(part.startswith(".") for part in PurePosixPath(relative_path).parts)


def collect_directory(
    project_dir: str | os.PathLike[str],
    *,
    exclude: Callable[[str], bool] | None = None,
    add_script_class_cache: bool = True,
) -> dict[str, bytes]:
    """Read the files of a Godot project folder into a ``{pack path: bytes}`` mapping.

    By default every hidden file or folder (a path component starting with ``.``) is
    skipped: that covers the editor's ``.godot/`` cache (machine-local state such as
    imported-asset caches, which would be stale in a pack built by hand), version-control
    folders and dotfiles. Pass ``exclude``, a function taking the ``/``-separated relative
    path and returning ``True`` to skip it, to replace that rule. Symbolic links to files
    are followed; links to folders are not.

    If ``add_script_class_cache`` is true and the result has no
    ``.godot/global_script_class_cache.cfg``, an empty one is added. Global classes
    (``class_name``) are therefore not registered in such a pack: scripts should refer to
    each other with ``preload``.
    """
    root = Path(project_dir)
    if not root.is_dir():
        raise NotADirectoryError(f"not a directory: {root}")
    skip = _default_exclude if exclude is None else exclude
    files: dict[str, bytes] = {}
    for folder, dir_names, file_names in os.walk(root):
        dir_names.sort()
        relative_folder = Path(folder).relative_to(root)
        kept = []
        for name in dir_names:
            relative = (relative_folder / name).as_posix()
            if not skip(relative):
                kept.append(name)
            else:
                logger.debug("pck: skipping folder %s", relative)
        dir_names[:] = kept
        for name in sorted(file_names):
            relative = (relative_folder / name).as_posix()
            if skip(relative):
                logger.debug("pck: skipping file %s", relative)
                continue
            full = Path(folder) / name
            if not full.is_file():
                logger.debug("pck: skipping non-regular file %s", relative)
                continue
            files[normalize_pack_path(relative)] = full.read_bytes()
    if add_script_class_cache and SCRIPT_CLASS_CACHE_PATH not in files:
        files[SCRIPT_CLASS_CACHE_PATH] = EMPTY_SCRIPT_CLASS_CACHE
    return files


def pack_directory(
    project_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    engine_version: tuple[int, int, int] = DEFAULT_ENGINE_VERSION,
    exclude: Callable[[str], bool] | None = None,
    add_script_class_cache: bool = True,
) -> dict[str, bytes]:
    """Pack a Godot project folder into ``out_path``; return the files that were packed.

    The folder is read with :func:`collect_directory` (same ``exclude`` and
    ``add_script_class_cache`` meaning) and written with :func:`write_pck`. The folder
    should contain a ``project.godot``; a pack without one still loads, but the engine has
    no main scene to run.
    """
    files = collect_directory(
        project_dir, exclude=exclude, add_script_class_cache=add_script_class_cache
    )
    if "project.godot" not in files:
        logger.warning("pck: %s has no project.godot; the pack has no main scene", project_dir)
    write_pck(out_path, files, engine_version)
    return files
