"""Helpers shared by the ``godot-websocket`` commands.

Errors (:class:`CLIError`), the argument parser that reports its errors on one line,
control of the library's log output, SIGINT/SIGTERM handling, TLS option loading and
small formatting helpers (numbers, byte counts, durations, tables, percentiles).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

from ..error import Error
from ..tls import CryptoKey, TLSOptions, X509Certificate

__all__ = [
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "IDLE_SLEEP",
    "PROG",
    "ArgumentParser",
    "CLIError",
    "StopFlag",
    "add_verbose_option",
    "clock_stamp",
    "fmt_bytes",
    "fmt_count",
    "fmt_duration_ns",
    "int_range",
    "last_library_message",
    "library_logging",
    "load_client_tls",
    "load_server_tls",
    "out",
    "percentile",
    "port_number",
    "positive_float",
    "render_table",
    "stop_on_signals",
]

PROG = "godot-websocket"

EXIT_OK = 0
#: The command ran to its end but its checks failed (``demo`` / ``bench`` errors).
EXIT_FAILED = 1
#: The command could not do what it was asked (bad arguments, port in use, ...).
EXIT_ERROR = 2
#: Interrupted by Ctrl-C where that is not the normal way to stop (128 + SIGINT).
EXIT_INTERRUPTED = 130

#: How long a poll loop sleeps when an iteration found nothing to do.
IDLE_SLEEP = 0.001


class CLIError(Exception):
    """A failure reported as one ``godot-websocket: error: ...`` line on stderr."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors become one-line :class:`CLIError` s."""

    def error(self, message: str) -> NoReturn:
        """Raise :class:`CLIError` instead of printing the usage and exiting."""
        raise CLIError(f"{message} (see '{self.prog} --help')")


def add_verbose_option(parser: argparse.ArgumentParser) -> None:
    """The ``-v/--verbose`` option every command has."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show the library's warnings and errors (-vv: all its log lines)",
    )


def out(line: str = "") -> None:
    """Print one line to stdout and flush it (output is often a pipe)."""
    print(line, flush=True)


# -- numbers and arguments ---------------------------------------------------------------


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0-65535 (0: the system picks a free one)."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is not in 0-65535")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number > 0")
    return value


def int_range(low: int, high: int) -> Callable[[str], int]:
    """argparse type factory: an int in ``low..high``."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in {low}-{high}")
        return value

    return parse


def fmt_count(n: float) -> str:
    """``1234567`` -> ``"1,234,567"`` (floats are rounded)."""
    return f"{round(n):,}"


def fmt_bytes(n: float) -> str:
    """A byte count with a binary unit: ``"512 B"``, ``"1.5 KiB"``, ``"3.20 MiB"``."""
    if n < 1024:
        return f"{round(n)} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024.0
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if n >= 100 else f"{n:.2f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def fmt_duration_ns(ns: float) -> str:
    """A latency: ``"85 µs"``, ``"1.24 ms"``, ``"2.1 s"``."""
    if ns < 1_000_000:
        return f"{ns / 1000:.0f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.2f} ms"
    return f"{ns / 1_000_000_000:.1f} s"


def percentile(sorted_values: Sequence[int], p: float) -> int:
    """Nearest-rank percentile of an already sorted sequence (0 if it is empty)."""
    if not sorted_values:
        return 0
    rank = math.ceil(p / 100.0 * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def render_table(rows: Sequence[Sequence[str]], align: str, indent: str = "  ") -> list[str]:
    """Lay ``rows`` out in columns; ``align`` has one ``<`` or ``>`` per column."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(align))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(w) if a == "<" else cell.rjust(w) for cell, w, a in zip(row, widths, align)
        ]
        lines.append((indent + "   ".join(cells)).rstrip())
    return lines


def clock_stamp() -> str:
    """The wall-clock time as ``HH:MM:SS.mmm`` for log lines."""
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"


# -- the library's log output --------------------------------------------------------------


class _LibraryLogHandler(logging.Handler):
    """Keeps the last warning of the library; prints records only when verbose."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.verbose = 0
        self.last_warning = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string in a log call must not break the CLI
            message = str(record.msg)
        if record.levelno >= logging.WARNING:
            self.last_warning = message
        if self.verbose:
            level = record.levelname.lower()
            print(f"{PROG}: log: {level}: {message}", file=sys.stderr, flush=True)


_handler = _LibraryLogHandler()


@contextmanager
def library_logging(verbose: int) -> Iterator[None]:
    """Route the ``godot_websocket`` loggers through the CLI for the duration of the block.

    The library reports problems with ``logging`` (as Godot prints errors). The CLI
    turns the ones that matter into its own messages, so by default the records are
    only remembered (see :func:`last_library_message`); ``-v`` prints warnings and
    errors, ``-vv`` everything. The logger's previous set-up is restored afterwards
    (``main()`` may be called in-process).
    """
    logger = logging.getLogger("godot_websocket")
    saved = (logger.propagate, logger.level)
    logger.addHandler(_handler)
    logger.propagate = False
    _handler.verbose = verbose
    _handler.last_warning = ""
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        logger.removeHandler(_handler)
        logger.propagate, level = saved
        logger.setLevel(level)


def last_library_message(clear: bool = True) -> str:
    """The last warning or error the library logged since the last call."""
    message = _handler.last_warning
    if clear:
        _handler.last_warning = ""
    return message


# -- signals -----------------------------------------------------------------------------------


class StopFlag:
    """Set by SIGINT or SIGTERM; a second SIGINT raises ``KeyboardInterrupt``."""

    def __init__(self) -> None:
        self.stop = False
        self.signal_name = ""

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler."""
        if self.stop and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop = True
        self.signal_name = signal.Signals(signum).name


@contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """Turn SIGINT/SIGTERM into a :class:`StopFlag` for the duration of the block."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, flag.handle)
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- TLS -----------------------------------------------------------------------------------------


def _readable(path: str, what: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise CLIError(f"cannot read {what} {path!r}: {e.strerror or e}") from None
    if os.path.isdir(path):
        raise CLIError(f"cannot read {what} {path!r}: is a directory")


def load_server_tls(cert: str, key: str) -> TLSOptions:
    """Server TLS options from PEM files, checked up front (Godot checks them only later)."""
    _readable(cert, "certificate file")
    _readable(key, "key file")
    certificate = X509Certificate()
    if certificate.load(cert) != Error.OK:
        raise CLIError(f"{cert!r} holds no PEM certificate")
    private_key = CryptoKey()
    if private_key.load(key) != Error.OK:
        raise CLIError(f"{key!r} holds no PEM private key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # The password callback keeps OpenSSL from prompting for an encrypted key.
        context.load_cert_chain(cert, key, password=lambda: b"")
    except (ssl.SSLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or str(e)
        raise CLIError(f"cannot use certificate {cert!r} with key {key!r}: {reason}") from None
    return TLSOptions.server(private_key, certificate)


def load_client_tls(ca: str | None, insecure: bool) -> TLSOptions | None:
    """Client TLS options for ``wss://`` URLs (``None``: verify with the system store)."""
    chain = None
    if ca is not None:
        _readable(ca, "CA file")
        chain = X509Certificate()
        if chain.load(ca) != Error.OK:
            raise CLIError(f"{ca!r} holds no PEM certificate")
    if insecure:
        return TLSOptions.client_unsafe(chain)
    if chain is not None:
        return TLSOptions.client(chain)
    return None
