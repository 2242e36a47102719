"""`park federation invite`: register (or re-bind) a FederatedNode and sign its join token."""

from __future__ import annotations

from park.control.store import Store
from park.core.errors import ConflictError, InvalidError, NotFoundError
from park.core.meta import ObjectMeta
from park.core.resources import FederatedNode, FederatedNodeSpec, NodeCapabilities
from park.federation import tokens
from park.federation.identity import Identity, public_key_of

DEFAULT_TTL_S = 24 * 3600.0
MAX_TTL_S = 30 * 24 * 3600.0


def invite(
    store: Store,
    authority: Identity,
    *,
    name: str,
    peer_id: str,
    capabilities: NodeCapabilities,
    ttl_s: float,
    bootstrap: list[str],
    now: float,
) -> tuple[str, FederatedNode]:
    public_key_of(peer_id)  # InvalidError unless it is an Ed25519 libp2p peer ID
    if not 0 < ttl_s <= MAX_TTL_S:
        raise InvalidError(f"ttl must be between 1 s and {int(MAX_TTL_S)} s")
    for other in store.list("FederatedNode").items:
        if isinstance(other, FederatedNode) and other.spec.peer_id == peer_id and other.metadata.name != name:
            raise ConflictError(f"peer {peer_id} is already node {other.metadata.name!r}")
    spec = FederatedNodeSpec(peer_id=peer_id, capabilities=capabilities)
    try:
        existing = store.get("FederatedNode", None, name)
    except NotFoundError:
        node = store.create(FederatedNode(metadata=ObjectMeta(name=name), spec=spec))
    else:
        assert isinstance(existing, FederatedNode)
        if existing.spec.revoked:
            raise ConflictError(f"node {name!r} is revoked; delete it or set spec.revoked: false first")
        node = store.update(existing.model_copy(update={"spec": spec}))
    assert isinstance(node, FederatedNode)
    token, _ = tokens.issue(
        authority,
        node=name,
        peer_id=peer_id,
        capabilities=capabilities,
        now=now,
        ttl_s=ttl_s,
        bootstrap=bootstrap,
    )
    store.record_event(node, type="Normal", reason="Invited", message=f"join token issued for {peer_id}")
    return token, node
