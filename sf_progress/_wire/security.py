"""TLS for the cluster's HTTPS gateway: client certificates, server verification, pinning.

Everything is resolved once, when the client is built: file problems become a clear
``ValueError``, never an ``[SSL] PEM lib`` at the first request.  Secrets (key
passwords, tokens) are kept out of every repr and message.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import ssl
import tempfile
from collections.abc import Iterable
from pathlib import Path

import attrs

__all__ = ["CertArg", "TLSConfig", "VerifyArg", "tls_config"]

logger = logging.getLogger("sf_progress")

_HEX = re.compile(r"^[0-9a-f]+$")
_PFX_SUFFIXES = (".pfx", ".p12")
_CA_SUFFIXES = (".pem", ".crt", ".cer", ".ca")
_CA_HASH = re.compile(r"[0-9a-fA-F]{8}\.[0-9]+")  # OpenSSL's hashed names (c_rehash, /etc/ssl/certs)
_warned_no_verify = False

CertArg = str | os.PathLike[str] | tuple[str | os.PathLike[str], str | os.PathLike[str]]
VerifyArg = bool | str | os.PathLike[str]


def normalize_thumbprint(value: str) -> str:
    """Return a thumbprint as lower-case hex (SHA-1: 40 digits, SHA-256: 64)."""
    if not isinstance(value, str):
        raise TypeError(f"a server thumbprint must be a hex str, not {type(value).__name__}")
    text = re.sub(r"[\s:]", "", value).lower()
    if not _HEX.match(text) or len(text) not in (40, 64):
        raise ValueError(f"a server thumbprint must be 40 (SHA-1) or 64 (SHA-256) hex digits, got {value!r}")
    return text


def _thumbprints(values: Iterable[str] | str | None) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str):
        values = [values]
    pins = frozenset(normalize_thumbprint(v) for v in values)
    if not pins:
        raise ValueError("server_thumbprints must name at least one thumbprint (or be None)")
    return pins


def _cert(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return (os.fspath(value),)
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (str, os.PathLike)) for v in value):
        return (os.fspath(value[0]), os.fspath(value[1]))
    raise TypeError("cert must be a path (PEM with key, or .pfx/.p12) or a (cert_path, key_path) tuple")


def _verify(value: object) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise TypeError("verify must be True, False, or the path of a CA bundle file or directory")


def _check_password(_: object, attribute: attrs.Attribute[str | bytes | None], value: object) -> None:
    if value is not None and not isinstance(value, (str, bytes)):
        raise TypeError(f"cert_password must be a str or bytes, not {type(value).__name__}")


@attrs.frozen(kw_only=True)
class TLSConfig:
    """How to talk TLS to the gateway (``requests``' conventions).

    ``cert``: ``"client.pem"`` (certificate and key in one PEM), ``("client.crt",
    "client.key")``, or ``"client.pfx"``/``.p12`` (needs ``sf_progress[pfx]``), with
    ``cert_password`` for an encrypted key or a PFX.  ``verify``: ``True`` (system
    store), a CA bundle file, a directory of CA files (no ``c_rehash`` needed), or
    ``False`` (no verification: logged as a warning, once).  ``server_thumbprints``: SHA-1
    or SHA-256 thumbprints of the server certificate; when given they replace the chain
    and host-name checks, so self-signed cluster certificates work safely.
    ``allow_insecure_http``: let a client certificate or a token travel over a plain
    ``http://`` endpoint (refused by default: it would travel in clear text).

    Args:
        cert: The client certificate: one PEM path, a ``(certificate, key)`` pair, or a
            ``.pfx``/``.p12`` path.
        cert_password: The password of an encrypted key or a PFX (never shown in a repr).
        verify: ``True``, a CA bundle file or directory, or ``False``.
        server_thumbprints: SHA-1 or SHA-256 thumbprints to pin (hex, colons allowed).
        allow_insecure_http: Allow credentials over ``http://``.

    Raises:
        ValueError: A missing or unreadable file, or a bad thumbprint.
    """

    cert: tuple[str, ...] | None = attrs.field(default=None, converter=_cert)
    cert_password: str | bytes | None = attrs.field(default=None, repr=False, validator=_check_password)
    verify: bool | str = attrs.field(default=True, converter=_verify)
    server_thumbprints: frozenset[str] = attrs.field(default=None, converter=_thumbprints)
    allow_insecure_http: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    @property
    def configured(self) -> bool:
        """Whether anything differs from plain default verification."""
        return self.cert is not None or self.verify is not True or bool(self.server_thumbprints)

    def ssl_context(self) -> ssl.SSLContext:
        """Build the client SSL context these settings describe.

        Returns:
            The :class:`ssl.SSLContext` (with the client certificate loaded, and pins checked
            by the transport instead of the chain when ``server_thumbprints`` are given).

        Raises:
            ValueError: An unreadable file, a wrong password or a bad certificate.
        """
        if self.server_thumbprints:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.sslobject_class = _pinned_class(self.server_thumbprints)
        elif self.verify is False:
            _warn_no_verify()
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif self.verify is True:
            context = ssl.create_default_context()
        else:
            context = ssl.create_default_context()
            _load_cas(context, Path(self.verify))
        if self.cert is not None:
            _load_client_cert(context, self.cert, self.cert_password)
        return context


def _warn_no_verify() -> None:
    global _warned_no_verify
    if not _warned_no_verify:
        _warned_no_verify = True
        logger.warning(
            "TLS server verification is OFF (verify=False): anyone on the network path can "
            "impersonate the cluster. Prefer verify='ca.pem' or server_thumbprints=[...]."
        )


def _may_be_ca(path: Path) -> bool:
    return path.suffix.lower() in _CA_SUFFIXES or _CA_HASH.fullmatch(path.name) is not None


def _load_cas(context: ssl.SSLContext, path: Path) -> None:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _may_be_ca(p))
        loaded = 0
        for file in files:
            try:
                context.load_verify_locations(cafile=str(file))
                loaded += 1
            except (ssl.SSLError, ValueError):
                logger.debug("skipping %s: not a PEM CA certificate", file)
        if not loaded:
            raise ValueError(
                f"verify: no PEM CA certificate (.pem/.crt/.cer/.ca, or c_rehash names like 1a2b3c4d.0) "
                f"found in directory {str(path)!r}"
            )
        return
    if not path.is_file():
        raise ValueError(f"verify: no CA bundle file or directory at {str(path)!r}")
    try:
        context.load_verify_locations(cafile=str(path))
    except (ssl.SSLError, ValueError) as exc:
        raise ValueError(f"verify: {str(path)!r} is not a PEM CA bundle ({exc.__class__.__name__})") from None


def _load_client_cert(context: ssl.SSLContext, cert: tuple[str, ...], password: str | bytes | None) -> None:
    for file in cert:
        if not Path(file).is_file():
            raise ValueError(f"cert: no file at {file!r}")
    if len(cert) == 1 and (cert[0].lower().endswith(_PFX_SUFFIXES) or _is_der(cert[0])):
        _load_pfx(context, cert[0], password)
        return
    try:
        context.load_cert_chain(
            cert[0], cert[-1] if len(cert) == 2 else None, password=_no_password if password is None else password
        )
    except _KeyIsEncrypted:
        raise ValueError(f"cert: the private key in {cert[-1]!r} is encrypted; pass cert_password") from None
    except (ssl.SSLError, OSError) as exc:
        hint = "" if password else " (if the key is encrypted, pass cert_password)"
        raise ValueError(
            f"cert: could not load a PEM certificate and private key from {', '.join(map(repr, cert))}"
            f"{hint}: {getattr(exc, 'reason', None) or exc.__class__.__name__}"
        ) from None


class _KeyIsEncrypted(Exception):
    pass


def _no_password() -> str:
    """OpenSSL asks for a password only for an encrypted key: never prompt on a terminal."""
    raise _KeyIsEncrypted


def _is_der(path: str) -> bool:
    with open(path, "rb") as file:
        head = file.read(64)
    return head[:1] == b"\x30" and b"-----BEGIN" not in head


def _load_pfx(context: ssl.SSLContext, path: str, password: str | bytes | None) -> None:
    """Load a PKCS#12 file: its key goes through a temporary, encrypted PEM file."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ValueError("cert: reading a .pfx/.p12 needs the 'pfx' extra: pip install 'sf_progress[pfx]'") from None
    data = Path(path).read_bytes()
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(
            data, password.encode() if isinstance(password, str) else password
        )
    except ValueError:
        raise ValueError(f"cert: could not open PKCS#12 file {path!r} (wrong cert_password?)") from None
    if key is None or certificate is None:
        raise ValueError(f"cert: PKCS#12 file {path!r} holds no private key and certificate")
    passphrase = secrets.token_urlsafe(32)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    certs_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [certificate, *(chain or [])])
    with tempfile.TemporaryDirectory(prefix="sf_progress-") as tmp:
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(certs_pem)
        key_file.touch(mode=0o600)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(str(cert_file), str(key_file), password=passphrase)


def thumbprints_of(der: bytes) -> tuple[str, str]:
    """The SHA-1 and SHA-256 thumbprints of a DER certificate, as lower-case hex."""
    return hashlib.sha1(der).hexdigest(), hashlib.sha256(der).hexdigest()


def _pinned_class(pins: frozenset[str]) -> type[ssl.SSLObject]:
    """An SSLObject class that fails the handshake unless the server cert matches a pin."""

    class PinnedSSLObject(ssl.SSLObject):
        def do_handshake(self) -> None:
            super().do_handshake()  # raises SSLWantReadError until the handshake is done
            der = self.getpeercert(binary_form=True)
            if der is None or not pins.intersection(thumbprints_of(der)):
                raise ssl.SSLCertVerificationError(
                    1, "server certificate matches none of the pinned thumbprints (server_thumbprints)"
                )

    return PinnedSSLObject


def tls_config(
    endpoint: str, tls: TLSConfig | None, cert: CertArg | None, verify: VerifyArg, *, secured: bool
) -> TLSConfig:
    """A client's TLS settings from ``tls=`` or ``cert=``/``verify=`` (not both).

    Credentials (a client certificate or pinned thumbprints, or a token when *secured*)
    over plain ``http://`` are refused unless ``allow_insecure_http``.
    """
    if tls is None:
        tls = TLSConfig(cert=cert, verify=verify)
    elif not isinstance(tls, TLSConfig):
        raise TypeError(f"tls must be a TLSConfig, not {type(tls).__name__}")
    elif cert is not None or verify is not True:
        raise TypeError("pass either tls=TLSConfig(...) or cert=/verify=, not both")
    secured = secured or tls.cert is not None or bool(tls.server_thumbprints)
    if secured and endpoint.lower().startswith("http://") and not tls.allow_insecure_http:
        raise ValueError(
            "a token or client certificate over plain http:// would travel in clear text; use an "
            "https:// endpoint, or pass tls=TLSConfig(allow_insecure_http=True) if you really mean it"
        )
    return tls
