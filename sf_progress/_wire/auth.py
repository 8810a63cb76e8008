"""Bearer tokens: a cache in front of the user's token provider, and Azure AD support.

A token provider is any sync or async callable returning either a token string or an
object with ``.token`` and ``.expires_on`` (epoch seconds), like azure-core's
``AccessToken``.  The cache calls it when a token is needed, refreshes a token
``refresh_margin`` seconds before it expires (the expiry of a bare JWT string is read
from its ``exp`` claim), and refreshes once more on a 401.  Tokens never appear in a
repr, a message or a log line.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import attrs

from .._errors import CredentialError, SFProgressError


class MetadataSource(Protocol):
    """What ``AadTokenProvider`` needs of the client it is attached to."""

    async def get_aad_metadata(self, *, timeout: int | None = None) -> AadMetadata: ...

__all__ = ["AadMetadata", "AadTokenProvider"]


class AccessTokenLike(Protocol):
    """What azure-core's ``AccessToken`` looks like."""

    @property
    def token(self) -> str: ...

    @property
    def expires_on(self) -> int | float: ...


TokenResult = str | AccessTokenLike
TokenProvider = Callable[[], TokenResult | Awaitable[TokenResult]]


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (not verified: only to refresh in time), else ``None``."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


class TokenCache:
    """Caches the provider's token; one refresh at a time, however many requests wait."""

    def __init__(
        self,
        provider: TokenProvider,
        *,
        refresh_margin: float = 120.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not callable(provider):
            raise TypeError("token_provider must be a callable returning a token")
        self._provider = provider
        self._margin = refresh_margin
        self._wall_clock = wall_clock
        self._header: str | None = None
        self._expires: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"<TokenCache cached={self._header is not None}>"

    def _fresh(self) -> bool:
        if self._header is None:
            return False
        return self._expires is None or self._wall_clock() < self._expires - self._margin

    async def header(self) -> str:
        """The ``Authorization`` header value, fetching a token if none is valid."""
        if self._fresh():
            return self._header  # type: ignore[return-value]
        return await self._refresh(self._header)

    async def refresh(self, rejected: str) -> str:
        """Get a new token after *rejected* drew a 401 (unless another task already did)."""
        return await self._refresh(rejected)

    async def _refresh(self, stale: str | None) -> str:
        async with self._lock:
            if self._header is not None and self._header != stale and self._fresh():
                return self._header
            token, expires = await self._fetch()
            self._header, self._expires = f"Bearer {token}", expires
            return self._header

    async def _fetch(self) -> tuple[str, float | None]:
        self.fetches += 1
        try:
            result: Any = self._provider()
            if inspect.isawaitable(result):
                result = await result
        except SFProgressError:
            raise  # already ours (e.g. from AadTokenProvider, or a FabricError reading metadata)
        except Exception as exc:  # the user's provider: any failure is a credential failure
            raise CredentialError(f"the token provider failed: {type(exc).__name__}") from exc
        token: object
        if isinstance(result, str):
            token, expires = result, jwt_expiry(result)
        else:
            token, expires_on = getattr(result, "token", None), getattr(result, "expires_on", None)
            expires = float(expires_on) if isinstance(expires_on, (int, float)) else None
        if not isinstance(token, str) or not token or " " in token or not token.isprintable() or not token.isascii():
            raise CredentialError("the token provider returned no usable token (a non-empty string is needed)")
        return token, expires


@attrs.frozen
class AadMetadata:
    """What ``GET /$/GetAadMetadata`` tells about a cluster secured with Azure AD."""

    type: str
    authority: str | None = None
    client: str | None = None
    cluster: str | None = None
    login: str | None = None
    redirect: str | None = None
    tenant: str | None = None


def parse_aad_metadata(data: object, body: bytes, ref: object = None) -> AadMetadata:
    """Build ``AadMetadata`` from the JSON answer (lower-case keys, as the gateway sends)."""
    from .._errors import ResponseFormatError

    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ResponseFormatError("expected {'type': ..., 'metadata': {...}}", body=body)
    metadata = data.get("metadata")
    items = metadata.items() if isinstance(metadata, dict) else ()
    fields = {k: v for k, v in items if k in _AAD_FIELDS and isinstance(v, str)}
    return AadMetadata(type=data["type"], **fields)


_AAD_FIELDS = ("authority", "client", "cluster", "login", "redirect", "tenant")


class AadTokenProvider:
    """A token provider for clusters secured with Azure AD, over any azure-identity credential.

    Pass it as ``ProgressClient(..., token_provider=AadTokenProvider(credential))``.  On
    first use it reads the cluster's AAD metadata (an anonymous ``GetAadMetadata`` call)
    and asks ``credential.get_token("<cluster app id>/.default")``; ``scope`` overrides
    that.  Sync and async (``azure.identity.aio``) credentials both work.
    """

    def __init__(self, credential: Any, *, scope: str | None = None) -> None:
        if not callable(getattr(credential, "get_token", None)):
            raise TypeError("credential must have a get_token(*scopes) method, like azure-identity's")
        self._credential = credential
        self._scope = scope
        self._client: MetadataSource | None = None

    def __repr__(self) -> str:
        return f"<AadTokenProvider credential={type(self._credential).__name__} scope={self._scope!r}>"

    def attach(self, client: MetadataSource) -> None:
        """Attach to the client whose metadata call finds the cluster's Azure AD application.

        Called by :class:`ProgressClient` when the provider is passed to it.

        Args:
            client: The client.
        """
        self._client = client

    async def scope(self) -> str:
        """The scope tokens are requested for (from the cluster's AAD metadata, read once).

        Returns:
            ``<cluster application>/.default``.

        Raises:
            CredentialError: Not attached to a client, or the cluster does not use Azure AD.
        """
        if self._scope is None:
            if self._client is None:
                raise CredentialError("AadTokenProvider is not attached to a ProgressClient")
            metadata = await self._client.get_aad_metadata()
            if metadata.type.lower() != "aad" or not metadata.cluster:
                raise CredentialError(f"the cluster is not secured with Azure AD (metadata type {metadata.type!r})")
            self._scope = f"{metadata.cluster}/.default"
        return self._scope

    async def __call__(self) -> AccessTokenLike:
        """Ask the credential for a token for the cluster's application.

        Returns:
            The credential's access token (``token`` and ``expires_on``).

        Raises:
            CredentialError: Not attached, or the cluster does not use Azure AD.
        """
        scope = await self.scope()
        result = self._credential.get_token(scope)
        if inspect.isawaitable(result):
            result = await result
        return result  # type: ignore[no-any-return]
