"""``Connection``: how to reach a cluster, as one validated value that makes a client.

The command line (flags and ``SF_*`` variables) and the Chaos Toolkit layer (the
experiment's ``configuration`` and ``secrets``) both fill one of these, so both accept the
same settings, refuse the same bad combinations with the same words, and build the client
the same way.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._ids import DEFAULT_API_VERSION, DEFAULT_SERVER_TIMEOUT
from ._safety.guard import health_level
from ._safety.rules import allowed
from ._wire.auth import AadTokenProvider, TokenProvider
from ._wire.security import TLSConfig

__all__ = ["DEFAULT_ENDPOINT", "Connection"]

#: Where a cluster's gateway listens when nothing else is said (a local development cluster).
DEFAULT_ENDPOINT = "http://localhost:19080"


def _optional_str(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string, not {type(value).__name__}")
    return value


def _thumbprints(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(pin.strip() for pin in value.split(",") if pin.strip())
    return tuple(str(pin) for pin in value)  # type: ignore[attr-defined]


def _waived(value: object) -> frozenset[str]:
    return frozenset(rule.value for rule in allowed(value))  # type: ignore[arg-type]


@attrs.frozen(kw_only=True)
class Connection:
    """How to reach a cluster: its gateway, TLS, credentials and request settings.

    One validated value for the command line and the Chaos Toolkit layer alike;
    :meth:`client_options` checks the combination (one client certificate option, a
    certificate with its key, no ``verify=False`` with a CA or pins, a token or Azure AD
    but not both) and gives :class:`ProgressClient`'s arguments.

    Args:
        endpoint: The gateway URL (default ``http://localhost:19080``).
        pem: A PEM file holding the client certificate and its key.
        cert: A client certificate PEM file (with ``key``).
        key: Its private key PEM file (with ``cert``).
        key_password: The password of an encrypted ``key`` or ``pem`` (never shown).
        pfx: A PKCS#12 (``.pfx``/``.p12``) client certificate.
        pfx_password: Its password (never shown).
        ca: A CA bundle file or directory to verify the server with.
        server_thumbprints: Server certificate thumbprints to pin (a sequence, or one
            comma-separated string).
        verify: Verify the server certificate (``False`` is unsafe).
        token: A bearer token (never shown).
        aad: Sign in with Azure AD (``azure-identity``'s ``DefaultAzureCredential``).
        allow_insecure_http: Allow a certificate or token over plain ``http://``.
        api_version: The ``api-version`` of progress reads (default ``3.0``).
        server_timeout: Each request's server timeout, whole seconds (default 60).
        cluster: The cluster intended (its manifest's ``Name``), checked before the first start.
        allow: The safety rules waived (names, ``"all"``, or a comma-separated text of them).
        forbid_health: The cluster health that forbids faults (``Error`` or ``Warning``).

    Raises:
        TypeError: A setting of the wrong type.
    """

    endpoint: str = attrs.field(default=DEFAULT_ENDPOINT, validator=attrs.validators.instance_of(str))
    pem: str | None = attrs.field(default=None, converter=_optional_str)
    cert: str | None = attrs.field(default=None, converter=_optional_str)
    key: str | None = attrs.field(default=None, converter=_optional_str)
    key_password: str | None = attrs.field(default=None, converter=_optional_str, repr=False)
    pfx: str | None = attrs.field(default=None, converter=_optional_str)
    pfx_password: str | None = attrs.field(default=None, converter=_optional_str, repr=False)
    ca: str | None = attrs.field(default=None, converter=_optional_str)
    server_thumbprints: tuple[str, ...] = attrs.field(default=(), converter=_thumbprints)
    verify: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    token: str | None = attrs.field(default=None, converter=_optional_str, repr=False)
    aad: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    allow_insecure_http: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    api_version: str = attrs.field(default=DEFAULT_API_VERSION, validator=attrs.validators.instance_of(str))
    server_timeout: int = attrs.field(default=DEFAULT_SERVER_TIMEOUT, validator=attrs.validators.instance_of(int))
    cluster: str | None = attrs.field(default=None, converter=_optional_str)
    allow: frozenset[str] = attrs.field(default=frozenset(), converter=_waived)
    forbid_health: str = attrs.field(default="Error", converter=health_level)

    def client_options(self) -> dict[str, Any]:
        """Check the combination and give :class:`ProgressClient`'s arguments (``endpoint`` among them).

        Returns:
            The keyword arguments of :class:`ProgressClient` (and of the blocking client).

        Raises:
            ValueError: A combination that cannot be used, a token with spaces or control
                characters, or Azure AD without ``azure-identity`` (each said in one line).
        """
        given = [name for name, value in (("pem", self.pem), ("cert/key", self.cert or self.key), ("pfx", self.pfx))
                 if value]
        if len(given) > 1:
            raise ValueError(f"choose one client certificate option, not {' and '.join(given)}")
        if bool(self.cert) != bool(self.key):
            raise ValueError("a client certificate (cert) and its key go together")
        if not self.verify and (self.ca or self.server_thumbprints):
            raise ValueError("no verification (verify=False) cannot be combined with a CA or server thumbprints")
        if self.token and self.aad:
            raise ValueError("choose a token or Azure AD sign-in (aad), not both")
        token = self.token
        if token is not None and (" " in token or not token.isprintable() or not token.isascii()):
            raise ValueError("the token holds spaces, control or non-ASCII characters")
        cert: Any = self.pem or ((self.cert, self.key) if self.cert else self.pfx)
        password = self.pfx_password if self.pfx else self.key_password
        tls = TLSConfig(
            cert=cert,
            cert_password=password,
            verify=False if not self.verify else (self.ca or True),
            server_thumbprints=self.server_thumbprints or None,
            allow_insecure_http=self.allow_insecure_http,
        )
        return {
            "endpoint": self.endpoint,
            "tls": tls,
            "token_provider": self._token_provider(),
            "api_version": self.api_version,
            "server_timeout": self.server_timeout,
            "cluster": self.cluster,
            "allow": sorted(self.allow),
            "forbid_health": self.forbid_health,
        }

    def _token_provider(self) -> TokenProvider | None:
        token = self.token
        if token is not None:
            return lambda: token
        if not self.aad:
            return None
        try:
            from azure.identity.aio import DefaultAzureCredential
        except ImportError:
            raise ValueError("Azure AD sign-in needs azure-identity: pip install 'sf_progress[aad]'") from None
        return AadTokenProvider(DefaultAzureCredential())
