"""Signed, hashed, length-prefixed frames: the one encoding of every message Park sends on the mesh.

    frame    = length:uint32be || envelope (UTF-8 JSON, at most MAX_FRAME bytes)
    envelope = {"v": 1, "from": <peer id>, "seq": n, "body": {...}, "sha256": hex, "sig": base64url}
    sha256   = SHA-256(canonical JSON of body)
    sig      = Ed25519(sender, DOMAIN || topic || "\\n" || seq || "\\n" || sha256)

`topic` is the stream protocol or gossip topic, so a frame cannot be replayed on another channel;
`seq` increases by one per sender on a stream, so a frame cannot be replayed within one either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from park.core.errors import ParkError
from park.federation.identity import Identity, verify

VERSION = 1
MAX_FRAME = 4 * 1024 * 1024
HEADER = 4
_DOMAIN = b"park/wire/v1\0"


class WireError(ParkError):
    """A frame that must not be trusted: too large, unreadable, tampered with, or misattributed."""

    reason = "BadFrame"


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def _signed_bytes(topic: str, seq: int, sha256: str) -> bytes:
    return _DOMAIN + f"{topic}\n{seq}\n{sha256}".encode()


@dataclass(frozen=True)
class Envelope:
    sender: str
    seq: int
    body: dict[str, Any]


def seal(identity: Identity, topic: str, seq: int, body: dict[str, Any]) -> bytes:
    """The envelope bytes (without the length prefix) of `body`, signed by `identity`."""
    sha256 = digest(body)
    signature = identity.sign(_signed_bytes(topic, seq, sha256))
    envelope = {
        "v": VERSION,
        "from": identity.peer_id,
        "seq": seq,
        "body": body,
        "sha256": sha256,
        "sig": base64.urlsafe_b64encode(signature).decode(),
    }
    data = canonical_json(envelope)
    if len(data) > MAX_FRAME:
        raise WireError(f"message of {len(data)} bytes is over the {MAX_FRAME}-byte frame limit")
    return data


def frame(data: bytes) -> bytes:
    return len(data).to_bytes(HEADER, "big") + data


def frame_length(header: bytes, *, limit: int = MAX_FRAME) -> int:
    length = int.from_bytes(header, "big")
    if length > limit:
        raise WireError(f"peer announced a {length}-byte frame; the limit is {limit}")
    return length


def open_envelope(data: bytes, *, topic: str, sender: str | None = None) -> Envelope:
    """Check and unwrap an envelope; `sender` is the peer the transport authenticated, if known."""
    if len(data) > MAX_FRAME:
        raise WireError(f"frame of {len(data)} bytes is over the {MAX_FRAME}-byte limit")
    try:
        envelope = json.loads(data)
        claimed, seq, body = envelope["from"], envelope["seq"], envelope["body"]
        sha256, signature = envelope["sha256"], base64.urlsafe_b64decode(envelope["sig"])
        version = envelope["v"]
    except (ValueError, KeyError, TypeError, binascii.Error) as err:
        raise WireError(f"unreadable envelope: {err}") from None
    if version != VERSION:
        raise WireError(f"wire version {version!r} is not {VERSION}")
    if not isinstance(claimed, str) or not isinstance(seq, int) or not isinstance(body, dict):
        raise WireError("envelope fields have the wrong types")
    if sender is not None and claimed != sender:
        raise WireError(f"frame claims to be from {claimed} but the connection is {sender}")
    try:
        actual = digest(body)
    except (UnicodeError, ValueError, TypeError) as err:  # e.g. a lone surrogate in a string
        raise WireError(f"body cannot be hashed: {type(err).__name__}") from None
    if actual != sha256:
        raise WireError(
            "body does not match its sha256: hash the body's canonical JSON"
            " (sorted keys, no spaces, no escapes but the required ones; PROTOCOL.md 5.3)"
        )
    if not verify(claimed, signature, _signed_bytes(topic, seq, sha256)):
        raise WireError(f"bad signature from {claimed}")
    return Envelope(sender=claimed, seq=seq, body=body)


class SequenceCheck:
    """Each sender's frames on one channel must count 1, 2, 3, ...; anything else is a replay."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def accept(self, envelope: Envelope) -> None:
        expected = self._last.get(envelope.sender, 0) + 1
        if envelope.seq != expected:
            raise WireError(f"sequence {envelope.seq} from {envelope.sender}; expected {expected}")
        self._last[envelope.sender] = envelope.seq
