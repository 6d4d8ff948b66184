"""``TLSOptions``, ``X509Certificate`` and ``CryptoKey`` (spec §5), PEM based."""

from __future__ import annotations

import base64
import binascii
import logging
import re

from .error import Error

__all__ = ["CryptoKey", "TLSOptions", "X509Certificate"]

_logger = logging.getLogger("godot_websocket")

_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END \1-----", re.S
)


def _pem_blocks(text: str) -> list[tuple[str, str]]:
    """(label, whole PEM block) for every well-formed block whose base64 decodes."""
    blocks = []
    for m in _PEM_BLOCK.finditer(text):
        try:
            base64.b64decode("".join(m.group(2).split()), validate=True)
        except (binascii.Error, ValueError):
            continue
        blocks.append((m.group(1), m.group(0) + "\n"))
    return blocks


class X509Certificate:
    """A certificate or a chain of certificates, in PEM."""

    def __init__(self) -> None:
        self._pem = ""
        self._in_use = False

    def load_from_string(self, string: str) -> Error:
        """Parse PEM text (one certificate or a chain)."""
        if self._in_use:
            return Error.ERR_ALREADY_IN_USE
        certs = [pem for label, pem in _pem_blocks(string) if label in ("CERTIFICATE", "TRUSTED CERTIFICATE")]
        if not certs:
            _logger.error("X509Certificate: no PEM certificate found")
            return Error.FAILED
        self._pem = "".join(certs)
        return Error.OK

    def load(self, path: str) -> Error:
        """Load a PEM file (``*.crt``)."""
        if self._in_use:
            return Error.ERR_ALREADY_IN_USE
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as e:
            _logger.error("X509Certificate.load: cannot open %s: %s", path, e)
            return Error.ERR_INVALID_PARAMETER
        return self.load_from_string(text)

    def save_to_string(self) -> str:
        """The PEM text of the whole chain (``""`` if empty)."""
        return self._pem

    def save(self, path: str) -> Error:
        """Write the chain as PEM."""
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(self._pem)
        except OSError as e:
            _logger.error("X509Certificate.save: cannot write %s: %s", path, e)
            return Error.ERR_INVALID_PARAMETER
        return Error.OK

    def _mark_in_use(self) -> None:
        self._in_use = True


class CryptoKey:
    """A private (or public) key, in PEM."""

    def __init__(self) -> None:
        self._pem = ""
        self._public_only = False
        self._in_use = False

    def load_from_string(self, string_key: str, public_only: bool = False) -> Error:
        """Parse a PEM key."""
        if self._in_use:
            return Error.ERR_ALREADY_IN_USE
        for label, pem in _pem_blocks(string_key):
            is_public = label == "PUBLIC KEY"
            if label.endswith("PRIVATE KEY") and not public_only:
                self._pem, self._public_only = pem, False
                return Error.OK
            if is_public and public_only:
                self._pem, self._public_only = pem, True
                return Error.OK
        _logger.error("CryptoKey: no PEM %s key found", "public" if public_only else "private")
        return Error.FAILED

    def load(self, path: str, public_only: bool = False) -> Error:
        """Load a PEM key file (``*.key``, or ``*.pub`` with ``public_only``)."""
        if self._in_use:
            return Error.ERR_ALREADY_IN_USE
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as e:
            _logger.error("CryptoKey.load: cannot open %s: %s", path, e)
            return Error.ERR_INVALID_PARAMETER
        return self.load_from_string(text, public_only)

    def save_to_string(self, public_only: bool = False) -> str:
        """The key as PEM (``""`` if there is none to give)."""
        if public_only and not self._public_only:
            _logger.error("CryptoKey.save_to_string(public_only=True) needs a public key")
            return ""
        return self._pem

    def save(self, path: str, public_only: bool = False) -> Error:
        """Write the key as PEM."""
        text = self.save_to_string(public_only)
        if not text:
            return Error.FAILED
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            _logger.error("CryptoKey.save: cannot write %s: %s", path, e)
            return Error.ERR_INVALID_PARAMETER
        return Error.OK

    def is_public_only(self) -> bool:
        """True if only the public part is loaded."""
        return self._public_only


class TLSOptions:
    """TLS settings for a client or a server; build them with the static constructors."""

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
        """Verify the server against ``trusted_chain`` (default: the system store) and its name."""
        if trusted_chain is not None and not isinstance(trusted_chain, X509Certificate):
            raise TypeError("trusted_chain must be an X509Certificate or None")
        o = TLSOptions()
        o._trusted_chain = trusted_chain
        o._common_name_override = str(common_name_override)
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
        """Serve with ``key`` and ``certificate`` (the full chain)."""
        if key is not None and not isinstance(key, CryptoKey):
            raise TypeError("key must be a CryptoKey")
        if certificate is not None and not isinstance(certificate, X509Certificate):
            raise TypeError("certificate must be an X509Certificate")
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
        """The trusted chain, if any."""
        return self._trusted_chain

    def get_private_key(self) -> CryptoKey | None:
        """The server's key, if any."""
        return self._private_key

    def get_own_certificate(self) -> X509Certificate | None:
        """The server's certificate chain, if any."""
        return self._own_certificate
