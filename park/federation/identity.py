"""Ed25519 identities and their libp2p peer IDs, without importing libp2p.

A libp2p peer ID for an Ed25519 key is the base58btc of an identity multihash over the protobuf
`PublicKey{Type: Ed25519, Data: key}`; the public key can therefore be read back from the ID, so
a signature from any peer can be checked knowing only its peer ID.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from park.core.errors import InvalidError

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# protobuf PublicKey{Type=Ed25519(1), Data=<32 bytes>}, wrapped in an identity multihash (0x00, len 36)
_PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, digit = divmod(number, 58)
        out = _ALPHABET[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        digit = _ALPHABET.find(char)
        if digit < 0:
            raise InvalidError(f"not base58: {text!r}")
        number = number * 58 + digit
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def peer_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b58encode(_PEER_ID_PREFIX + raw)


def public_key_of(peer_id: str) -> Ed25519PublicKey:
    """The Ed25519 key a peer ID names; InvalidError for IDs of other key types or garbage."""
    raw = b58decode(peer_id)
    if len(raw) != len(_PEER_ID_PREFIX) + 32 or not raw.startswith(_PEER_ID_PREFIX):
        raise InvalidError(f"{peer_id!r} is not an Ed25519 libp2p peer ID")
    return Ed25519PublicKey.from_public_bytes(raw[len(_PEER_ID_PREFIX) :])


def verify(peer_id: str, signature: bytes, data: bytes) -> bool:
    """Whether `signature` over `data` was made by the key behind `peer_id`."""
    try:
        public_key_of(peer_id).verify(signature, data)
    except (InvalidSignature, InvalidError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Identity:
    """A private Ed25519 key: a node's or the gateway's (which is also the federation authority)."""

    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> Identity:
        return cls(Ed25519PrivateKey.generate())

    @property
    def seed(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    @property
    def peer_id(self) -> str:
        return peer_id_of(self.private_key.public_key())

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def save(self, path: Path) -> None:
        """Write the key as PKCS#8 PEM, readable by its owner only (0600), atomically."""
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        os.chmod(tmp, 0o600)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Identity:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InvalidError(f"no key at {path} (run `park node init` first)") from None
        if path.stat().st_mode & 0o077:
            raise InvalidError(f"{path} is readable by others; run `chmod 600 {path}`")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError as err:
            raise InvalidError(f"{path} is not a PEM private key: {err}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
        return cls(key)

    @classmethod
    def load_or_create(cls, path: Path) -> Identity:
        if path.exists():
            return cls.load(path)
        identity = cls.generate()
        identity.save(path)
        return identity
