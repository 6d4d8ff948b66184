"""URL parsing with Godot's rules for ``connect_to_url``/``create_client`` (spec §4.7)."""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

__all__ = ["ParsedURL", "URLError", "parse_url"]


class URLError(ValueError):
    """The URL is malformed (Godot returns ``ERR_INVALID_PARAMETER``)."""


class ParsedURL(NamedTuple):
    """A parsed WebSocket URL."""

    scheme: str  # "ws://" or "wss://" (or another scheme, lowercased, for the caller to refuse)
    host: str  # lowercased; IPv6 literals without brackets
    port: int  # defaulted to 80/443
    path: str  # "/" at least; query kept
    is_ipv6: bool

    @property
    def tls(self) -> bool:
        """True for ``wss://``."""
        return self.scheme == "wss://"

    def host_header(self) -> str:
        """The value of the Host header: host, and ``:port`` unless it is the default."""
        host = f"[{self.host}]" if self.is_ipv6 else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"

    def is_ip_literal(self) -> bool:
        """Whether the host is an IP address rather than a name."""
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")


def parse_url(url: str) -> ParsedURL:
    """Split ``url`` as Godot's ``String::parse_url`` does, then default scheme/port/path."""
    scheme = ""
    rest = url
    pos = url.find("://")
    if pos >= 0 and all(ch in _SCHEME_CHARS for ch in url[:pos]):
        scheme = url[: pos + 3].lower()
        rest = url[pos + 3 :]
    # fragment
    hash_pos = rest.find("#")
    if hash_pos >= 0:
        rest = rest[:hash_pos]
    # path (query strings stay part of the path)
    slash = rest.find("/")
    if slash >= 0:
        path = rest[slash:]
        base = rest[:slash]
    else:
        path = ""
        base = rest
    # credentials (Godot strips up to the *first* '@')
    at = base.find("@")
    if at >= 0:
        base = base[at + 1 :]
    is_ipv6 = False
    port_text = ""
    if base.startswith("["):
        end = base.rfind("]")
        if end < 0:
            raise URLError("missing ']' after an IPv6 address")
        host = base[1:end]
        after = base[end + 1 :]
        is_ipv6 = True
        # Godot ignores text after ']' unless it starts with ':' (then it is the port).
        if after.startswith(":"):
            port_text = after[1:]
            if not port_text:
                raise URLError("empty port")
    else:
        if base.count(":") > 1:
            raise URLError("more than one ':' in the host")
        if ":" in base:
            host, port_text = base.split(":", 1)
            if not port_text:
                raise URLError("empty port")
        else:
            host = base
    if not host:
        raise URLError("empty host")
    port = 0
    if port_text:
        # String::is_valid_int(): ASCII digits, optionally after one '+' or '-'.
        digits = port_text[1:] if len(port_text) > 1 and port_text[0] in "+-" else port_text
        if not digits.isdigit() or not digits.isascii():
            raise URLError(f"invalid port {port_text!r}")
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise URLError(f"port {port} out of range")
    if not scheme:
        scheme = "ws://"
    if port == 0:
        port = 443 if scheme == "wss://" else 80
    if not path:
        path = "/"
    return ParsedURL(scheme, host.lower(), port, path, is_ipv6)
