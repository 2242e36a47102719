"""The deployables in federation/ say what the code does: the config example loads, and PROTOCOL.md names
every message, every refusal code and the size limits, and its worked example verifies byte for byte."""

from __future__ import annotations

import json
import shutil
import typing
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, TypeAdapter

from park.federation import messages, tokens
from park.federation.config import NodeConfig, NodePaths
from park.federation.identity import Identity
from park.federation.mesh import MAX_GOSSIP
from park.federation.wire import MAX_FRAME, SequenceCheck, open_envelope

ROOT = Path(__file__).resolve().parents[3]
FEDERATION = ROOT / "federation"
PROTOCOL = (FEDERATION / "PROTOCOL.md").read_text()


def _message_types() -> set[str]:
    models = [
        value
        for value in vars(messages).values()
        if isinstance(value, type) and issubclass(value, BaseModel) and "type" in value.model_fields
    ]
    return {str(model.model_fields["type"].default) for model in models}


def test_the_example_node_config_is_a_valid_config_with_every_field(tmp_path: Path) -> None:
    shutil.copyfile(FEDERATION / "node-config.example.yaml", tmp_path / "config.yaml")
    config = NodePaths(tmp_path).load_config()
    assert config.isolate_network
    assert config.time_windows()
    assert set(config.caps.apps) == {"sha256-chain", "probe"}
    text = (FEDERATION / "node-config.example.yaml").read_text()
    for name, field in NodeConfig.model_fields.items():
        assert f"\n{field.alias or name}:" in text, f"the example does not show {field.alias or name}"


def test_the_protocol_names_every_message_type() -> None:
    types = _message_types()
    assert {"hello", "welcome", "lease", "announce", "revocation"} <= types
    missing = sorted(t for t in types if f"`{t}`" not in PROTOCOL and f'"{t}"' not in PROTOCOL)
    assert not missing, f"federation/PROTOCOL.md does not describe message types {missing}"


def test_the_protocol_names_every_refusal_code() -> None:
    codes = typing.get_args(tokens.RefusalReason)
    assert codes
    missing = [code for code in codes if f"`{code}`" not in PROTOCOL]
    assert not missing, f"federation/PROTOCOL.md does not describe refusal codes {missing}"


@pytest.mark.parametrize(("name", "value"), [("MAX_FRAME", MAX_FRAME), ("MAX_GOSSIP", MAX_GOSSIP)])
def test_the_protocol_states_the_size_limits(name: str, value: int) -> None:
    lines = [line for line in PROTOCOL.splitlines() if name in line]
    assert lines, f"federation/PROTOCOL.md does not mention {name}"
    assert any(str(value) in line or f"{value:,}" in line for line in lines), (
        f"federation/PROTOCOL.md does not give {name} = {value} on a line that names it"
    )


def _seeded(byte: int) -> Identity:
    return Identity(Ed25519PrivateKey.from_private_bytes(bytes([byte]) * 32))


def test_the_worked_example_verifies() -> None:
    gateway, node = _seeded(1), _seeded(2)
    assert gateway.peer_id in PROTOCOL and node.peer_id in PROTOCOL
    token = next(line for line in PROTOCOL.splitlines() if line.startswith(f"{tokens.PREFIX}.eyJ"))
    issued_at = tokens.read(token)[0].issued_at
    claims = tokens.check(token, issuer=gateway.peer_id, peer_id=node.peer_id, now=issued_at + 1)
    assert claims.node == "alice-workstation"

    node_message: TypeAdapter[typing.Any] = TypeAdapter(messages.NodeMessage)
    gateway_message: TypeAdapter[typing.Any] = TypeAdapter(messages.GatewayMessage)
    gossip = {"announce": messages.ANNOUNCE_TOPIC, "revocation": messages.REVOCATION_TOPIC}
    sequence, seen = SequenceCheck(), set()
    for line in PROTOCOL.splitlines():
        if not line.startswith('{"body":'):
            continue
        kind = json.loads(line)["body"]["type"]
        envelope = open_envelope(line.encode(), topic=gossip.get(kind, messages.WORK_PROTOCOL))
        seen.add(kind)
        if kind in gossip:
            assert envelope.sender == (node if kind == "announce" else gateway).peer_id
            continue
        sequence.accept(envelope)
        adapter = node_message if envelope.sender == node.peer_id else gateway_message
        assert adapter.validate_python(envelope.body).to_dict() == envelope.body
    assert seen == _message_types() - {"refused"}
