"""Join tokens: the authority's signed invitation for one peer ID, with caps, expiry and a nonce.

Text form: `pj1.<base64url(canonical JSON claims)>.<base64url(Ed25519 signature)>`. The issuer is
the gateway's peer ID, so a token can be checked with nothing but the issuer's ID.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from typing import Literal

from pydantic import Field, ValidationError

from park.core.errors import ParkError
from park.core.meta import DnsLabel, ParkModel
from park.core.resources import NodeCapabilities, PeerId
from park.federation.identity import Identity, verify

PREFIX = "pj1"
_DOMAIN = b"park/join-token/v1\0"
MAX_TOKEN_CHARS = 4096

RefusalReason = Literal[
    "malformed",
    "forged",
    "expired",
    "wrong-peer",
    "replayed",
    "revoked",
    "unknown-node",
    "protocol",
    "timeout",
]


class JoinRefusedError(ParkError):
    """Why a join was refused; `code` is one of RefusalReason, stable for tests and logs."""

    reason = "Forbidden"

    def __init__(self, code: RefusalReason, message: str) -> None:
        super().__init__(f"join refused ({code}): {message}")
        self.code: RefusalReason = code


class JoinClaims(ParkModel):
    issuer: PeerId
    node: DnsLabel
    peer_id: PeerId
    capabilities: NodeCapabilities
    bootstrap: list[str] = Field(default_factory=list, max_length=8)
    issued_at: int
    expires_at: int
    nonce: str = Field(pattern=r"^[0-9a-f]{32}$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(claims: JoinClaims) -> bytes:
    return json.dumps(claims.to_dict(), sort_keys=True, separators=(",", ":")).encode()


def issue(
    authority: Identity,
    *,
    node: str,
    peer_id: str,
    capabilities: NodeCapabilities,
    now: float,
    ttl_s: float,
    bootstrap: list[str] | None = None,
) -> tuple[str, JoinClaims]:
    claims = JoinClaims(
        issuer=authority.peer_id,
        node=node,
        peer_id=peer_id,
        capabilities=capabilities,
        bootstrap=bootstrap or [],
        issued_at=int(now),
        expires_at=int(now + ttl_s),
        nonce=secrets.token_hex(16),
    )
    body = canonical(claims)
    signature = authority.sign(_DOMAIN + body)
    return f"{PREFIX}.{_b64(body)}.{_b64(signature)}", claims


def read(token: str) -> tuple[JoinClaims, bytes, bytes]:
    """Parse without checking: (claims, signed body, signature); JoinRefusedError('malformed')."""
    if len(token) > MAX_TOKEN_CHARS:
        raise JoinRefusedError("malformed", f"token is longer than {MAX_TOKEN_CHARS} characters")
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise JoinRefusedError("malformed", f"a join token looks like {PREFIX}.<claims>.<signature>")
    try:
        body, signature = _unb64(parts[1]), _unb64(parts[2])
        claims = JoinClaims.model_validate(json.loads(body))
    except (binascii.Error, ValueError, ValidationError) as err:
        raise JoinRefusedError("malformed", f"unreadable claims: {str(err).splitlines()[0]}") from None
    return claims, body, signature


def check(token: str, *, issuer: str, peer_id: str, now: float) -> JoinClaims:
    """The claims of a token the authority `issuer` signed for `peer_id`, still valid at `now`.

    Replay and revocation need state and are checked by the gateway's admission.
    """
    claims, body, signature = read(token)
    if claims.issuer != issuer or not verify(issuer, signature, _DOMAIN + body):
        raise JoinRefusedError("forged", "the signature is not this federation's authority")
    if now >= claims.expires_at:
        raise JoinRefusedError("expired", f"the token expired {int(now - claims.expires_at)} s ago")
    if claims.peer_id != peer_id:
        raise JoinRefusedError(
            "wrong-peer", f"the token is for {claims.peer_id}, presented by authenticated peer {peer_id}"
        )
    return claims
