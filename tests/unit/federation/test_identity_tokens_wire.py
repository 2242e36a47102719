"""Identities, join tokens and wire frames: the signed parts every federation message relies on."""

from __future__ import annotations

import base64
import json

import pytest
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID

from park.core.errors import InvalidError
from park.core.resources import NodeCapabilities
from park.federation import tokens
from park.federation.identity import Identity, public_key_of, verify
from park.federation.tokens import JoinRefusedError
from park.federation.wire import MAX_FRAME, SequenceCheck, WireError, frame_length, open_envelope, seal

NOW = 1_800_000_000.0


def test_peer_ids_match_libp2p_and_give_back_the_public_key() -> None:
    identity = Identity.generate()
    libp2p_id = ID.from_pubkey(create_new_key_pair(identity.seed).public_key)
    assert identity.peer_id == libp2p_id.to_base58()
    assert identity.peer_id.startswith("12D3KooW")
    assert verify(identity.peer_id, identity.sign(b"x"), b"x")
    assert not verify(identity.peer_id, identity.sign(b"x"), b"y")
    assert not verify(Identity.generate().peer_id, identity.sign(b"x"), b"x")
    with pytest.raises(InvalidError, match="not an Ed25519"):
        public_key_of("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")


def test_keys_are_saved_private_and_refused_when_readable_by_others(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "node.key"
    identity = Identity.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert Identity.load(path).peer_id == identity.peer_id
    path.chmod(0o644)
    with pytest.raises(InvalidError, match="readable by others"):
        Identity.load(path)
    with pytest.raises(InvalidError, match="park node init"):
        Identity.load(tmp_path / "missing.key")


def _token(authority: Identity, peer: str, *, ttl: float = 60) -> str:
    token, _ = tokens.issue(
        authority, node="n1", peer_id=peer, capabilities=NodeCapabilities(cpus=2), now=NOW, ttl_s=ttl
    )
    return token


def test_a_token_checks_out_for_its_peer_before_expiry() -> None:
    authority, node = Identity.generate(), Identity.generate()
    claims = tokens.check(
        _token(authority, node.peer_id), issuer=authority.peer_id, peer_id=node.peer_id, now=NOW
    )
    assert (claims.node, claims.peer_id, claims.capabilities.cpus) == ("n1", node.peer_id, 2)


def _with_claims(token: str, **capabilities: object) -> str:
    """The same signature over claims someone edited."""
    prefix, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["capabilities"].update(capabilities)
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{prefix}.{edited}.{signature}"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda t, a, n: ("forged", _token(Identity.generate(), n)), "forged"),
        (lambda t, a, n: ("more gpus", _with_claims(t, gpus=8)), "forged"),
        (lambda t, a, n: ("wrong-peer", _token(a, Identity.generate().peer_id)), "wrong-peer"),
        (lambda t, a, n: ("expired", _token(a, n, ttl=-1)), "expired"),
        (lambda t, a, n: ("garbage", "pj1.nope"), "malformed"),
        (lambda t, a, n: ("huge", "pj1." + "A" * 5000 + ".x"), "malformed"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(mutate, code) -> None:  # type: ignore[no-untyped-def]
    authority, node = Identity.generate(), Identity.generate()
    _, bad = mutate(_token(authority, node.peer_id), authority, node.peer_id)
    with pytest.raises(JoinRefusedError) as refused:
        tokens.check(bad, issuer=authority.peer_id, peer_id=node.peer_id, now=NOW)
    assert refused.value.code == code
    assert "\n" not in str(refused.value)


def test_frames_round_trip_and_reject_tampering_misattribution_and_replay() -> None:
    sender = Identity.generate()
    data = seal(sender, "/park/work/1.0.0", 1, {"type": "request"})
    envelope = open_envelope(data, topic="/park/work/1.0.0", sender=sender.peer_id)
    assert envelope.body == {"type": "request"}
    with pytest.raises(WireError, match="sha256"):
        open_envelope(data.replace(b'"request"', b'"requesT"'), topic="/park/work/1.0.0")
    with pytest.raises(WireError, match="bad signature"):
        open_envelope(data, topic="park/federation/announce/1")  # replayed on another channel
    with pytest.raises(WireError, match="connection is"):
        open_envelope(data, topic="/park/work/1.0.0", sender=Identity.generate().peer_id)
    with pytest.raises(WireError, match="unreadable"):
        open_envelope(b"{not json", topic="/park/work/1.0.0")
    with pytest.raises(WireError, match="limit"):
        frame_length((MAX_FRAME + 1).to_bytes(4, "big"))
    sequence = SequenceCheck()
    sequence.accept(envelope)
    with pytest.raises(WireError, match="expected 2"):
        sequence.accept(envelope)


def test_a_message_over_the_frame_limit_is_not_sent() -> None:
    with pytest.raises(WireError, match="frame limit"):
        seal(Identity.generate(), "/park/work/1.0.0", 1, {"blob": "x" * MAX_FRAME})


def test_a_body_that_cannot_be_hashed_is_a_bad_frame_not_a_crash() -> None:
    data = b'{"v":1,"from":"x","seq":1,"body":{"type":"\\ud800"},"sha256":"0","sig":"AA=="}'
    with pytest.raises(WireError, match="cannot be hashed"):
        open_envelope(data, topic="/park/work/1.0.0")
