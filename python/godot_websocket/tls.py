"""``TLSOptions``, ``X509Certificate``, ``CryptoKey`` and ``Crypto`` (spec §4.8, §5).

Certificates and keys are parsed and written by OpenSSL inside the C core (the same
OpenSSL that runs ``wss://``), with Godot's (mbedtls') rules and error codes:

* :class:`X509Certificate` reads every ``CERTIFICATE`` block of PEM text (a chain), or one
  DER certificate from a file.  Like Godot, loading *adds* to the certificates already
  held; a fresh object holds none.
* :class:`CryptoKey` reads a private key (PKCS#1, SEC1 or PKCS#8; PEM or DER) or, with
  ``public_only``, a public key.  Encrypted keys are not supported (as in Godot).
* :class:`Crypto` makes RSA keys and self-signed certificates for local development.

Objects are copied into the core when a connection or server starts, so changing them
afterwards affects only later connections (Godot refuses ``load`` with
``ERR_ALREADY_IN_USE`` while a TLS context uses the object; here that never happens).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any, Union

from ._core import ffi, lib
from .error import Error

__all__ = ["Crypto", "CryptoKey", "TLSOptions", "X509Certificate"]

_logger = logging.getLogger("godot_websocket")

PathLike = Union[str, "os.PathLike[str]"]


def _last_error() -> str:
    return str(ffi.string(lib.gws_crypto_last_error()).decode("utf-8", "replace"))


def _take_string(out: Any) -> str:
    """The core-allocated C string ``out[0]`` as ``str`` (and free it)."""
    try:
        return str(ffi.string(out[0]).decode("utf-8"))
    finally:
        lib.gws_free(out[0])


def _read_file(path: PathLike, what: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (OSError, ValueError) as e:
        _logger.error("Cannot open %s file %r: %s", what, os.fspath(path), e)
        return None


def _write_file(path: PathLike, what: str, text: str) -> Error:
    """Godot's order: the file is opened first (ERR_INVALID_PARAMETER), then written."""
    try:
        with open(path, "w", encoding="ascii", newline="\n") as f:
            f.write(text)
    except (OSError, ValueError) as e:
        _logger.error("Cannot save %s file %r: %s", what, os.fspath(path), e)
        return Error.ERR_INVALID_PARAMETER
    return Error.OK


def _check_path(path: Any) -> None:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}")


class X509Certificate:
    """A certificate or a chain of certificates (Godot's ``X509Certificate``)."""

    def __init__(self) -> None:
        self._pem = ""
        self._count = 0

    def _add(self, data: bytes) -> Error:
        out = ffi.new("char **")
        count = ffi.new("int *")
        skipped = ffi.new("int *")
        err = lib.gws_x509_parse(data, len(data), out, count, skipped)
        if err != 0:
            _logger.error("Error parsing X509 certificates: %s", _last_error())
            return Error.FAILED
        if skipped[0]:
            _logger.warning("Some X509 certificates could not be parsed (%d skipped)",
                            skipped[0])
        self._pem += _take_string(out)
        self._count += int(count[0])
        return Error.OK

    def load(self, path: PathLike) -> Error:
        """Add the certificates of a PEM (or DER) file, e.g. ``*.crt``.

        ``ERR_INVALID_PARAMETER`` if the file cannot be opened, ``FAILED`` if it holds
        no valid certificate, else ``OK``.
        """
        _check_path(path)
        data = _read_file(path, "X509Certificate")
        if data is None:
            return Error.ERR_INVALID_PARAMETER
        return self._add(data)

    def load_from_string(self, string: str) -> Error:
        """Add the certificates of PEM text (one certificate or a chain).

        ``FAILED`` if the text holds no valid certificate, else ``OK``.
        """
        if not isinstance(string, str):
            raise TypeError("string must be a str")
        return self._add(string.encode("utf-8"))

    def save(self, path: PathLike) -> Error:
        """Write the whole chain as PEM (``ERR_INVALID_PARAMETER`` if it cannot be opened)."""
        _check_path(path)
        return _write_file(path, "X509Certificate", self._pem)

    def save_to_string(self) -> str:
        """The PEM text of the whole chain (``""`` if empty)."""
        return self._pem

    def get_certificate_count(self) -> int:
        """How many certificates are held (not in Godot)."""
        return self._count

    def __repr__(self) -> str:
        return f"<X509Certificate: {self._count} certificate(s)>"


class CryptoKey:
    """A private key, or only a public key (Godot's ``CryptoKey``)."""

    def __init__(self) -> None:
        self._pem = ""
        self._public_only = False

    def _parse(self, data: bytes, public_only: bool) -> Error:
        out = ffi.new("char **")
        if lib.gws_key_parse(data, len(data), int(public_only), int(public_only), out) != 0:
            _logger.error("Error parsing %s key: %s",
                          "public" if public_only else "private", _last_error())
            return Error.FAILED
        self._pem = _take_string(out)
        self._public_only = public_only
        return Error.OK

    def load(self, path: PathLike, public_only: bool = False) -> Error:
        """Load a key file: a private key (``*.key``), or with ``public_only`` a public key.

        ``ERR_INVALID_PARAMETER`` if the file cannot be opened, ``FAILED`` if it holds no
        key of the wanted kind (PEM or DER), else ``OK``.
        """
        _check_path(path)
        data = _read_file(path, "CryptoKey")
        if data is None:
            return Error.ERR_INVALID_PARAMETER
        return self._parse(data, bool(public_only))

    def load_from_string(self, string_key: str, public_only: bool = False) -> Error:
        """Load a PEM key: ``FAILED`` if it cannot be parsed, else ``OK``."""
        if not isinstance(string_key, str):
            raise TypeError("string_key must be a str")
        return self._parse(string_key.encode("utf-8"), bool(public_only))

    def save_to_string(self, public_only: bool = False) -> str:
        """The key as PEM: the public key if ``public_only`` or if only that is loaded.

        ``""`` (and an error log) when no key is loaded.
        """
        if not self._pem:
            _logger.error("CryptoKey.save_to_string: no key loaded")
            return ""
        if not public_only or self._public_only:
            return self._pem
        out = ffi.new("char **")
        data = self._pem.encode("ascii")
        if lib.gws_key_parse(data, len(data), 0, 1, out) != 0:
            _logger.error("Error saving key: %s", _last_error())
            return ""
        return _take_string(out)

    def save(self, path: PathLike, public_only: bool = False) -> Error:
        """Write the key as PEM (see :meth:`save_to_string`).

        ``ERR_INVALID_PARAMETER`` if the file cannot be opened, ``FAILED`` if there is no
        key to write (the file is created empty then, as in Godot), else ``OK``.
        """
        _check_path(path)
        text = self.save_to_string(public_only) if self._pem else ""
        err = _write_file(path, "CryptoKey", text)
        if err == Error.OK and not text:
            if not self._pem:
                _logger.error("CryptoKey.save: no key loaded")
            return Error.FAILED
        return err

    def is_public_only(self) -> bool:
        """True if only the public part of a key is loaded."""
        return self._public_only

    def __repr__(self) -> str:
        kind = "empty" if not self._pem else ("public" if self._public_only else "private")
        return f"<CryptoKey: {kind}>"


class Crypto:
    """Key and certificate generation (the part of Godot's ``Crypto`` that TLS needs)."""

    def generate_rsa(self, size: int) -> CryptoKey | None:
        """A new RSA private key of ``size`` bits (e.g. 2048); ``None`` on failure."""
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError("size must be an int")
        out = ffi.new("char **")
        if lib.gws_key_generate_rsa(size, out) != 0:
            _logger.error("Crypto.generate_rsa(%d): %s", size, _last_error())
            return None
        key = CryptoKey()
        key._pem = _take_string(out)
        return key

    def generate_self_signed_certificate(
        self,
        key: CryptoKey,
        issuer_name: str = "CN=myserver,O=myorganisation,C=IT",
        not_before: str = "20140101000000",
        not_after: str = "20340101000000",
        *,
        alt_names: Iterable[str] = (),
    ) -> X509Certificate | None:
        """A certificate for ``key``, signed by itself; ``None`` on failure.

        As Godot's: subject and issuer are ``issuer_name`` (``"CN=...,O=...,C=..."``), the
        validity is given as UTC ``YYYYMMDDhhmmss``, the serial is random and the
        certificate is a CA (``CA:TRUE, pathlen:0``) signed with SHA-256.

        ``alt_names`` (keyword only, not in Godot) adds a subjectAltName extension with
        these DNS names and IP addresses, e.g. ``("localhost", "127.0.0.1")``: browsers
        (Godot web exports) check only those, OpenSSL and mbedtls fall back to the
        ``CN`` when there are none.
        """
        if not isinstance(key, CryptoKey):
            raise TypeError("key must be a CryptoKey")
        for name, value in (("issuer_name", issuer_name), ("not_before", not_before),
                            ("not_after", not_after)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str")
        if isinstance(alt_names, str):
            raise TypeError("alt_names must be an iterable of str, not a str")
        names = [str(n) for n in alt_names]
        if any("," in n or not n for n in names):
            _logger.error("generate_self_signed_certificate: invalid alt_names %r", names)
            return None
        if not key._pem or key._public_only:
            _logger.error("generate_self_signed_certificate: a private key is needed")
            return None
        out = ffi.new("char **")
        err = lib.gws_x509_self_signed(key._pem.encode("ascii"), issuer_name.encode("utf-8"),
                                       not_before.encode("ascii", "replace"),
                                       not_after.encode("ascii", "replace"),
                                       ",".join(names).encode("utf-8"), out)
        if err != 0:
            _logger.error("generate_self_signed_certificate: %s", _last_error())
            return None
        cert = X509Certificate()
        cert._pem = _take_string(out)
        cert._count = 1
        return cert


class TLSOptions:
    """TLS settings for a client or a server; build them with the static constructors.

    ======================================  ==========================  ===============
    options                                 certificate verified with   host name check
    ======================================  ==========================  ===============
    ``None`` or :meth:`client`              the system trust store      URL host
    ``client(chain)``                       ``chain`` only              URL host
    ``client(chain_or_None, "name")``       ``chain`` / system store    ``"name"``
    :meth:`client_unsafe`                   not verified                none
    ``client_unsafe(chain)``                ``chain`` only              none
    ======================================  ==========================  ===============
    """

    _CLIENT, _CLIENT_UNSAFE, _SERVER = 0, 1, 2

    def __init__(self) -> None:
        self._mode = self._CLIENT
        self._trusted_chain: X509Certificate | None = None
        self._common_name_override = ""
        self._private_key: CryptoKey | None = None
        self._own_certificate: X509Certificate | None = None

    @staticmethod
    def client(
        trusted_chain: X509Certificate | None = None, common_name_override: str = ""
    ) -> TLSOptions:
        """Verify the server against ``trusted_chain`` (default: the system store) and its name.

        The name checked (and sent as SNI) is ``common_name_override`` if not empty, else
        the host of the URL.
        """
        if trusted_chain is not None and not isinstance(trusted_chain, X509Certificate):
            raise TypeError("trusted_chain must be an X509Certificate or None")
        if not isinstance(common_name_override, str):
            raise TypeError("common_name_override must be a str")
        o = TLSOptions()
        o._trusted_chain = trusted_chain
        o._common_name_override = common_name_override
        return o

    @staticmethod
    def client_unsafe(trusted_chain: X509Certificate | None = None) -> TLSOptions:
        """No host name check; no verification at all unless ``trusted_chain`` is given."""
        if trusted_chain is not None and not isinstance(trusted_chain, X509Certificate):
            raise TypeError("trusted_chain must be an X509Certificate or None")
        o = TLSOptions()
        o._mode = TLSOptions._CLIENT_UNSAFE
        o._trusted_chain = trusted_chain
        return o

    @staticmethod
    def server(key: CryptoKey | None, certificate: X509Certificate | None) -> TLSOptions:
        """Serve with ``key`` and ``certificate`` (the full chain, leaf first).

        Not checked here (as in Godot): with a missing or mismatched key/certificate,
        ``create_server`` still succeeds, logs why, and every TLS handshake fails.
        """
        if key is not None and not isinstance(key, CryptoKey):
            raise TypeError("key must be a CryptoKey or None")
        if certificate is not None and not isinstance(certificate, X509Certificate):
            raise TypeError("certificate must be an X509Certificate or None")
        o = TLSOptions()
        o._mode = TLSOptions._SERVER
        o._private_key = key
        o._own_certificate = certificate
        return o

    def is_server(self) -> bool:
        """True for options made with :meth:`server`."""
        return self._mode == self._SERVER

    def is_unsafe_client(self) -> bool:
        """True for options made with :meth:`client_unsafe`."""
        return self._mode == self._CLIENT_UNSAFE

    def get_common_name_override(self) -> str:
        """The name verified instead of the URL's host (``""``: the host)."""
        return self._common_name_override

    def get_trusted_ca_chain(self) -> X509Certificate | None:
        """The chain given to :meth:`client` / :meth:`client_unsafe`, else ``None``."""
        return self._trusted_chain

    def get_private_key(self) -> CryptoKey | None:
        """The key given to :meth:`server`, else ``None``."""
        return self._private_key

    def get_own_certificate(self) -> X509Certificate | None:
        """The certificate given to :meth:`server`, else ``None``."""
        return self._own_certificate

    def __repr__(self) -> str:
        mode = ("client", "client_unsafe", "server")[self._mode]
        return f"<TLSOptions {mode}>"
