"""TLSOptions, X509Certificate, CryptoKey and Crypto (spec §5): constructors, getters,
load/save and their Godot error codes, key and self-signed certificate generation."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest

from godot_websocket import Crypto, CryptoKey, Error, TLSOptions, X509Certificate

trustme = pytest.importorskip("trustme")


@pytest.fixture(scope="module")
def pki() -> Any:
    ca = trustme.CA()
    inter = ca.create_child_ca()
    leaf = inter.issue_cert("127.0.0.1", "localhost")
    return ca, inter, leaf


def pem(blob: Any) -> str:
    return str(blob.bytes().decode())


def chain_pem(leaf: Any) -> str:
    return "".join(pem(b) for b in leaf.cert_chain_pems)


def gw_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "godot_websocket" and r.levelno >= logging.ERROR]


def der_of(pem_text: str) -> bytes:
    out = subprocess.run(["openssl", "x509", "-outform", "DER"], input=pem_text.encode(),
                         capture_output=True, check=True)
    return out.stdout


# ----------------------------------------------------------------- TLSOptions


def test_tls_options_client_defaults() -> None:
    o = TLSOptions.client()
    assert not o.is_server() and not o.is_unsafe_client()
    assert o.get_common_name_override() == ""
    assert o.get_trusted_ca_chain() is None
    assert o.get_private_key() is None and o.get_own_certificate() is None


def test_tls_options_client_with_chain_and_override(pki: Any) -> None:
    chain = X509Certificate()
    assert chain.load_from_string(pem(pki[0].cert_pem)) == Error.OK
    o = TLSOptions.client(chain, "game.example")
    assert o.get_trusted_ca_chain() is chain
    assert o.get_common_name_override() == "game.example"
    assert not o.is_server() and not o.is_unsafe_client()


def test_tls_options_client_unsafe() -> None:
    chain = X509Certificate()
    o = TLSOptions.client_unsafe()
    assert o.is_unsafe_client() and not o.is_server()
    assert o.get_trusted_ca_chain() is None and o.get_common_name_override() == ""
    o = TLSOptions.client_unsafe(chain)
    assert o.is_unsafe_client() and o.get_trusted_ca_chain() is chain


def test_tls_options_server() -> None:
    key, cert = CryptoKey(), X509Certificate()
    o = TLSOptions.server(key, cert)
    assert o.is_server() and not o.is_unsafe_client()
    assert o.get_private_key() is key and o.get_own_certificate() is cert
    assert o.get_trusted_ca_chain() is None and o.get_common_name_override() == ""
    # nulls are accepted at creation (Godot checks them only when a client connects)
    o = TLSOptions.server(None, None)
    assert o.is_server() and o.get_private_key() is None


def test_tls_options_type_errors() -> None:
    with pytest.raises(TypeError):
        TLSOptions.client("not a certificate")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TLSOptions.client(None, 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TLSOptions.client_unsafe(CryptoKey())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TLSOptions.server(X509Certificate(), CryptoKey())  # type: ignore[arg-type]


def test_default_constructed_options_are_a_client() -> None:
    o = TLSOptions()
    assert not o.is_server() and not o.is_unsafe_client()


# ----------------------------------------------------------------- X509Certificate


def test_certificate_chain_from_string(pki: Any) -> None:
    _ca, _inter, leaf = pki
    cert = X509Certificate()
    assert cert.save_to_string() == ""
    assert cert.load_from_string(chain_pem(leaf)) == Error.OK
    assert cert.get_certificate_count() == 2
    text = cert.save_to_string()
    assert text.count("-----BEGIN CERTIFICATE-----") == 2
    # the PEM round-trips: same certificates, same order
    again = X509Certificate()
    assert again.load_from_string(text) == Error.OK
    assert again.save_to_string() == text


def test_certificate_load_adds_to_the_chain(pki: Any) -> None:
    ca, inter, _leaf = pki
    cert = X509Certificate()
    assert cert.load_from_string(pem(inter.cert_pem)) == Error.OK
    assert cert.load_from_string(pem(ca.cert_pem)) == Error.OK
    assert cert.get_certificate_count() == 2  # as mbedtls_x509_crt_parse: appended


def test_certificate_ignores_other_blocks_and_text(pki: Any) -> None:
    ca, _inter, leaf = pki
    text = "some text\n" + pem(leaf.private_key_pem) + "more\n" + pem(ca.cert_pem) + "tail"
    cert = X509Certificate()
    assert cert.load_from_string(text) == Error.OK
    assert cert.get_certificate_count() == 1


def test_certificate_skips_a_malformed_block_when_one_is_good(
        pki: Any, caplog: pytest.LogCaptureFixture) -> None:
    bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    cert = X509Certificate()
    with caplog.at_level(logging.WARNING, logger="godot_websocket"):
        assert cert.load_from_string(bad + pem(pki[0].cert_pem)) == Error.OK
    assert cert.get_certificate_count() == 1
    assert any("skipped" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("text", [
    "",
    "not a certificate",
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
])
def test_certificate_parse_failure(text: str, caplog: pytest.LogCaptureFixture) -> None:
    cert = X509Certificate()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert cert.load_from_string(text) == Error.FAILED
    assert gw_errors(caplog)
    assert cert.save_to_string() == "" and cert.get_certificate_count() == 0


def test_certificate_key_text_is_not_a_certificate(pki: Any) -> None:
    assert X509Certificate().load_from_string(pem(pki[2].private_key_pem)) == Error.FAILED


def test_certificate_load_and_save_files(pki: Any, tmp_path: Path) -> None:
    _ca, _inter, leaf = pki
    src = tmp_path / "chain.crt"
    src.write_text(chain_pem(leaf))
    cert = X509Certificate()
    assert cert.load(str(src)) == Error.OK
    assert cert.get_certificate_count() == 2
    out = tmp_path / "out.crt"
    assert cert.save(str(out)) == Error.OK
    assert out.read_text() == cert.save_to_string()
    again = X509Certificate()
    assert again.load(out) == Error.OK  # os.PathLike is fine too
    assert again.save_to_string() == cert.save_to_string()


def test_certificate_load_der_file(pki: Any, tmp_path: Path) -> None:
    ca = pki[0]
    der = tmp_path / "ca.der"
    der.write_bytes(der_of(pem(ca.cert_pem)))
    cert = X509Certificate()
    assert cert.load(str(der)) == Error.OK
    expected = X509Certificate()
    expected.load_from_string(pem(ca.cert_pem))
    assert cert.save_to_string() == expected.save_to_string()


def test_certificate_load_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cert = X509Certificate()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert cert.load(str(tmp_path / "missing.crt")) == Error.ERR_INVALID_PARAMETER
        assert cert.load(str(tmp_path)) == Error.ERR_INVALID_PARAMETER  # a directory
        junk = tmp_path / "junk.crt"
        junk.write_bytes(b"\x00\x01garbage")
        assert cert.load(str(junk)) == Error.FAILED
    assert len(gw_errors(caplog)) == 3


def test_certificate_save_errors(pki: Any, tmp_path: Path) -> None:
    cert = X509Certificate()
    cert.load_from_string(pem(pki[0].cert_pem))
    assert cert.save(str(tmp_path / "no" / "such" / "dir.crt")) == Error.ERR_INVALID_PARAMETER
    # an empty certificate saves as an empty file
    empty = tmp_path / "empty.crt"
    assert X509Certificate().save(str(empty)) == Error.OK
    assert empty.read_text() == ""


def test_certificate_type_errors() -> None:
    with pytest.raises(TypeError):
        X509Certificate().load_from_string(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        X509Certificate().load(5)  # type: ignore[arg-type]


# ----------------------------------------------------------------- CryptoKey


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_private_key_round_trip(kind: str, tmp_path: Path) -> None:
    key_type = trustme.KeyType.ECDSA if kind == "ec" else trustme.KeyType.RSA
    leaf = trustme.CA(key_type=key_type).issue_cert("a.example", key_type=key_type)
    key = CryptoKey()
    assert key.load_from_string(pem(leaf.private_key_pem)) == Error.OK  # PKCS#8 from trustme
    assert not key.is_public_only()
    text = key.save_to_string()
    # written as mbedtls writes it: the traditional form for RSA and EC
    label = "RSA PRIVATE KEY" if kind == "rsa" else "EC PRIVATE KEY"
    assert text.startswith(f"-----BEGIN {label}-----\n")
    again = CryptoKey()
    assert again.load_from_string(text) == Error.OK
    assert again.save_to_string() == text
    path = tmp_path / "k.key"
    assert key.save(str(path)) == Error.OK
    assert path.read_text() == text
    loaded = CryptoKey()
    assert loaded.load(str(path)) == Error.OK and loaded.save_to_string() == text


def test_public_key(pki: Any, tmp_path: Path) -> None:
    key = CryptoKey()
    key.load_from_string(pem(pki[2].private_key_pem))
    pub_text = key.save_to_string(True)
    assert pub_text.startswith("-----BEGIN PUBLIC KEY-----\n")
    pub = CryptoKey()
    assert pub.load_from_string(pub_text, True) == Error.OK
    assert pub.is_public_only()
    # a public-only key always saves its public half
    assert pub.save_to_string() == pub_text == pub.save_to_string(True)
    path = tmp_path / "k.pub"
    assert key.save(str(path), True) == Error.OK
    assert path.read_text() == pub_text
    loaded = CryptoKey()
    assert loaded.load(str(path), public_only=True) == Error.OK and loaded.is_public_only()


def test_public_and_private_do_not_mix(pki: Any) -> None:
    key = CryptoKey()
    key.load_from_string(pem(pki[2].private_key_pem))
    pub_text = key.save_to_string(True)
    # a public key is not a private key, and public_only does not read private keys
    assert CryptoKey().load_from_string(pub_text) == Error.FAILED
    assert CryptoKey().load_from_string(key.save_to_string(), True) == Error.FAILED


def test_key_der_files(tmp_path: Path) -> None:
    rsa = Crypto().generate_rsa(1024)
    assert rsa is not None
    pkcs1 = tmp_path / "k.pem"
    pkcs1.write_text(rsa.save_to_string())
    der = tmp_path / "k.der"
    subprocess.run(["openssl", "pkey", "-in", str(pkcs1), "-outform", "DER", "-out", str(der)],
                   check=True, capture_output=True)
    pub_der = tmp_path / "k.pub.der"
    subprocess.run(["openssl", "pkey", "-in", str(pkcs1), "-pubout", "-outform", "DER",
                    "-out", str(pub_der)], check=True, capture_output=True)
    key = CryptoKey()
    assert key.load(str(der)) == Error.OK
    assert key.save_to_string() == rsa.save_to_string()
    pub = CryptoKey()
    assert pub.load(str(pub_der), True) == Error.OK
    assert pub.save_to_string() == rsa.save_to_string(True)


def test_key_load_failure_keeps_the_old_key(pki: Any, caplog: pytest.LogCaptureFixture) -> None:
    key = CryptoKey()
    key.load_from_string(pem(pki[2].private_key_pem))
    before = key.save_to_string()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert key.load_from_string("garbage") == Error.FAILED
        assert key.load_from_string("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                    "-----END PRIVATE KEY-----\n") == Error.FAILED
    assert len(gw_errors(caplog)) == 2
    assert key.save_to_string() == before and not key.is_public_only()


def test_encrypted_key_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.key"
    plain.write_text(Crypto().generate_rsa(1024).save_to_string())  # type: ignore[union-attr]
    enc = tmp_path / "enc.key"
    subprocess.run(["openssl", "pkcs8", "-topk8", "-in", str(plain), "-out", str(enc),
                    "-passout", "pass:secret"], check=True, capture_output=True)
    assert "ENCRYPTED PRIVATE KEY" in enc.read_text()
    assert CryptoKey().load(str(enc)) == Error.FAILED


def test_key_file_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key = CryptoKey()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert key.load(str(tmp_path / "missing.key")) == Error.ERR_INVALID_PARAMETER
        # nothing to save: the file is opened first (Godot's order), then FAILED
        empty = tmp_path / "empty.key"
        assert key.save(str(empty)) == Error.FAILED
        assert empty.exists()
        assert key.save(str(tmp_path / "no" / "dir.key")) == Error.ERR_INVALID_PARAMETER
        assert key.save_to_string() == ""
    assert gw_errors(caplog)


# ----------------------------------------------------------------- Crypto


def test_generate_rsa() -> None:
    key = Crypto().generate_rsa(2048)
    assert key is not None and not key.is_public_only()
    text = key.save_to_string()
    assert text.startswith("-----BEGIN RSA PRIVATE KEY-----")
    out = subprocess.run(["openssl", "rsa", "-noout", "-text"], input=text.encode(),
                         capture_output=True, check=True).stdout.decode()
    assert "2048 bit" in out and "65537" in out


def test_generate_rsa_bad_size(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert Crypto().generate_rsa(16) is None
    assert gw_errors(caplog)


def test_generate_self_signed_certificate_like_godot() -> None:
    crypto = Crypto()
    key = crypto.generate_rsa(2048)
    assert key is not None
    cert = crypto.generate_self_signed_certificate(key)
    assert cert is not None and cert.get_certificate_count() == 1
    text = subprocess.run(["openssl", "x509", "-noout", "-text"],
                          input=cert.save_to_string().encode(), capture_output=True,
                          check=True).stdout.decode()
    assert "Subject: CN = myserver, O = myorganisation, C = IT" in text
    assert "Issuer: CN = myserver, O = myorganisation, C = IT" in text
    assert "Not Before: Jan  1 00:00:00 2014 GMT" in text
    assert "Not After : Jan  1 00:00:00 2034 GMT" in text
    assert "CA:TRUE, pathlen:0" in text and "sha256WithRSAEncryption" in text
    assert "Subject Alternative Name" not in text
    # the certificate belongs to the key
    mod_cert = subprocess.run(["openssl", "x509", "-noout", "-modulus"],
                              input=cert.save_to_string().encode(), capture_output=True,
                              check=True).stdout
    mod_key = subprocess.run(["openssl", "rsa", "-noout", "-modulus"],
                             input=key.save_to_string().encode(), capture_output=True,
                             check=True).stdout
    assert mod_cert == mod_key


def test_generate_self_signed_certificate_with_alt_names(pki: Any) -> None:
    key = CryptoKey()
    key.load_from_string(pem(pki[2].private_key_pem))  # an EC key works too
    cert = Crypto().generate_self_signed_certificate(
        key, "CN=dev server,O=a\\,b", "20240101000000", "20440101000000",
        alt_names=["localhost", "127.0.0.1", "::1"])
    assert cert is not None
    text = subprocess.run(["openssl", "x509", "-noout", "-text"],
                          input=cert.save_to_string().encode(), capture_output=True,
                          check=True).stdout.decode()
    assert "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1" in text
    assert "CN = dev server, O = \"a,b\"" in text or "O = a\\,b" in text


@pytest.mark.parametrize("args", [
    ("CN=x,bogus",),
    ("nothing",),
    ("CN=x", "2014", "20340101000000"),
    ("CN=x", "20140101000000", "2034010100000x"),
])
def test_generate_self_signed_certificate_bad_arguments(
        args: tuple[str, ...], caplog: pytest.LogCaptureFixture) -> None:
    key = Crypto().generate_rsa(1024)
    assert key is not None
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert Crypto().generate_self_signed_certificate(key, *args) is None
    assert gw_errors(caplog)


def test_generate_self_signed_certificate_needs_a_private_key() -> None:
    key = Crypto().generate_rsa(1024)
    assert key is not None
    pub = CryptoKey()
    pub.load_from_string(key.save_to_string(True), True)
    assert Crypto().generate_self_signed_certificate(pub) is None
    assert Crypto().generate_self_signed_certificate(CryptoKey()) is None
    assert Crypto().generate_self_signed_certificate(key, alt_names=["a,b"]) is None
    with pytest.raises(TypeError):
        Crypto().generate_self_signed_certificate(key, alt_names="localhost")

