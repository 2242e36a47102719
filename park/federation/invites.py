"""`park federation invite`: register (or re-bind) a FederatedNode and sign its join token."""

from __future__ import annotations

from datetime import UTC, datetime

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
    token, claims = tokens.issue(
        authority,
        node=name,
        peer_id=peer_id,
        capabilities=capabilities,
        now=now,
        ttl_s=ttl_s,
        bootstrap=bootstrap,
    )
    node = _invited(store, node, expires_at=datetime.fromtimestamp(claims.expires_at, UTC))
    store.record_event(node, type="Normal", reason="Invited", message=f"join token issued for {peer_id}")
    return token, node


def _invited(store: Store, node: FederatedNode, *, expires_at: datetime) -> FederatedNode:
    """Remember when the token runs out (the gateway shows Expired after that if it was never used); a
    node that never joined shows Invited again, e.g. after its earlier token expired."""
    for _ in range(5):  # the gateway writes statuses too: on a conflict, read again
        update: dict[str, object] = {"invite_expires_at": expires_at}
        if node.status.joined_at is None:
            update |= {"phase": "Invited", "message": None}
        try:
            updated = store.update_status(
                node.model_copy(update={"status": node.status.model_copy(update=update)})
            )
        except ConflictError:
            fresh = store.get("FederatedNode", None, node.metadata.name)
            assert isinstance(fresh, FederatedNode)
            node = fresh
            continue
        assert isinstance(updated, FederatedNode)
        return updated
    raise ConflictError(f"FederatedNode {node.metadata.name} kept changing; invite it again")
