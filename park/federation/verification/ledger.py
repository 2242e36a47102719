"""The credit ledger: append-only, hash-chained per node, every entry signed by the gateway.

    entry = {"seq": n (1, 2, ... per node), "peer", "node", "workId", "taskId", "app",
             "claimed", "granted", "reason", "at"}
    hash  = SHA-256(prev || canonical(entry))     prev = the node's previous hash, or 64 zeros
    sig   = Ed25519(gateway, "park/ledger/v1\\0" || hash)

A node operator checks its own entries offline with nothing but the gateway's peer ID (`verify_chain`):
each signature, each hash, and that the chain has no gap and no edit.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

from park.core.errors import InvalidError
from park.federation.identity import Identity, verify
from park.federation.wire import canonical_json

GENESIS = "0" * 64
_DOMAIN = b"park/ledger/v1\0"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    peer TEXT NOT NULL,
    seq INTEGER NOT NULL,
    entry TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL,
    sig TEXT NOT NULL,
    UNIQUE (peer, seq)
);
"""


@dataclass(frozen=True)
class SignedEntry:
    entry: dict[str, Any]
    prev: str
    hash: str
    sig: str

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.entry, "prev": self.prev, "hash": self.hash, "sig": self.sig}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignedEntry:
        try:
            return cls(
                entry=dict(data["entry"]),
                prev=str(data["prev"]),
                hash=str(data["hash"]),
                sig=str(data["sig"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidError(f"not a ledger entry: {err}") from None


def chain_hash(prev: str, entry: dict[str, Any]) -> str:
    return hashlib.sha256(prev.encode() + canonical_json(entry)).hexdigest()


class Ledger:
    def __init__(self, db: sqlite3.Connection, lock: threading.Lock, authority: Identity) -> None:
        self._db, self._lock, self.authority = db, lock, authority
        with self._lock:
            self._db.executescript(_SCHEMA)

    def append(self, entry: dict[str, Any]) -> SignedEntry:
        """Add an entry (without seq: it is assigned) to its node's chain."""
        peer = str(entry["peer"])
        with self._lock:
            last = self._db.execute(
                "SELECT seq, hash FROM ledger WHERE peer = ? ORDER BY seq DESC LIMIT 1", (peer,)
            ).fetchone()
            seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
            entry = {**entry, "seq": seq}
            digest = chain_hash(prev, entry)
            sig = base64.urlsafe_b64encode(self.authority.sign(_DOMAIN + digest.encode())).decode()
            self._db.execute(
                "INSERT INTO ledger (peer, seq, entry, prev, hash, sig) VALUES (?, ?, ?, ?, ?, ?)",
                (peer, seq, json.dumps(entry), prev, digest, sig),
            )
        return SignedEntry(entry=entry, prev=prev, hash=digest, sig=sig)

    def entries(self, peer: str, *, since: int = 0, limit: int = 1000) -> list[SignedEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT entry, prev, hash, sig FROM ledger WHERE peer = ? AND seq > ? ORDER BY seq LIMIT ?",
                (peer, since, limit),
            ).fetchall()
        return [SignedEntry(json.loads(e), p, h, s) for e, p, h, s in rows]

    def balance(self, peer: str) -> float:
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(SUM(json_extract(entry, '$.granted')), 0) FROM ledger WHERE peer = ?",
                (peer,),
            ).fetchone()
        return round(float(row[0]), 6)

    def has_entry(self, peer: str, work_id: str) -> bool:
        """Whether this node's chain already holds a verdict on this unit."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM ledger WHERE peer = ? AND json_extract(entry, '$.workId') = ? LIMIT 1",
                (peer, work_id),
            ).fetchone()
        return row is not None


def verify_chain(entries: list[SignedEntry], *, gateway: str, peer: str | None = None) -> float:
    """Check a node's chain from its first entry; the balance it proves, or InvalidError naming the entry."""
    prev, balance = GENESIS, 0.0
    for expected_seq, signed in enumerate(entries, start=1):
        entry = signed.entry
        where = f"entry {expected_seq}"
        if entry.get("seq") != expected_seq:
            raise InvalidError(f"{where}: sequence {entry.get('seq')} (an entry is missing or reordered)")
        if peer is not None and entry.get("peer") != peer:
            raise InvalidError(f"{where}: belongs to {entry.get('peer')}, not {peer}")
        if signed.prev != prev or chain_hash(prev, entry) != signed.hash:
            raise InvalidError(f"{where}: hash chain broken (edited or out of order)")
        try:
            signature = base64.urlsafe_b64decode(signed.sig)
        except ValueError:
            raise InvalidError(f"{where}: unreadable signature") from None
        if not verify(gateway, signature, _DOMAIN + signed.hash.encode()):
            raise InvalidError(f"{where}: not signed by gateway {gateway}")
        prev = signed.hash
        balance += float(entry["granted"])
    return round(balance, 6)
