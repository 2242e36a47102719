"""The bodies of `/park/work/1.0.0` messages and of the gossip topics (see federation/PROTOCOL.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from park.core.meta import ParkModel
from park.core.resources import NodeCapabilities, PeerId

WORK_PROTOCOL = "/park/work/1.0.0"
ANNOUNCE_TOPIC = "park/federation/announce/1"
REVOCATION_TOPIC = "park/federation/revocations/1"

# 53-byte peer IDs: 1,000 of them stay well inside the 64 KiB gossip limit; longer lists go in several.
REVOCATIONS_PER_MESSAGE = 1000

WorkId = Annotated[str, Field(pattern=r"^w-[0-9a-f]{16,64}$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


# ------------------------------------------------------------------ node -> gateway


class Hello(ParkModel):
    type: Literal["hello"] = "hello"
    token: str | None = Field(None, max_length=4096)
    offer: NodeCapabilities
    agent: str = Field("park-node", max_length=64)


class RequestWork(ParkModel):
    type: Literal["request"] = "request"


class Heartbeat(ParkModel):
    type: Literal["heartbeat"] = "heartbeat"
    work_ids: list[WorkId] = Field(default_factory=list, max_length=64)


class Result(ParkModel):
    type: Literal["result"] = "result"
    work_id: WorkId
    ok: bool
    output: dict[str, Any] = Field(default_factory=dict)
    output_sha256: Sha256
    error: str | None = Field(None, max_length=2000)
    cpu_seconds: float = Field(0.0, ge=0)
    # The owner took the machine back (pause, time window, load): not the node's failure.
    suspended: bool = False


class LedgerRequest(ParkModel):
    """The node asks for its credit ledger entries after `since` (its last seq)."""

    type: Literal["ledger-request"] = "ledger-request"
    since: int = Field(0, ge=0)


class Bye(ParkModel):
    type: Literal["bye"] = "bye"
    reason: str = Field("", max_length=200)


# ------------------------------------------------------------------ gateway -> node


class Welcome(ParkModel):
    type: Literal["welcome"] = "welcome"
    node: str
    granted: NodeCapabilities
    heartbeat_s: float
    lease_s: float
    credits: float = 0.0


class Refused(ParkModel):
    type: Literal["refused"] = "refused"
    code: str
    message: str


class Lease(ParkModel):
    type: Literal["lease"] = "lease"
    work_id: WorkId
    app: str
    payload: dict[str, Any]
    payload_sha256: Sha256
    deadline_s: float
    attempt: int


class LedgerEntries(ParkModel):
    """Signed entries of the node's chain (see verification/ledger.py), oldest first, at most 500."""

    type: Literal["ledger-entries"] = "ledger-entries"
    entries: list[dict[str, Any]] = Field(default_factory=list, max_length=500)
    balance: float = 0.0


class Idle(ParkModel):
    type: Literal["idle"] = "idle"
    retry_s: float


class HeartbeatAck(ParkModel):
    type: Literal["heartbeat-ack"] = "heartbeat-ack"
    extended: list[WorkId] = Field(default_factory=list)
    cancelled: list[WorkId] = Field(default_factory=list)


class ResultAck(ParkModel):
    type: Literal["result-ack"] = "result-ack"
    work_id: WorkId
    accepted: bool
    message: str = ""


NodeMessage = Annotated[
    Hello | RequestWork | Heartbeat | Result | LedgerRequest | Bye, Field(discriminator="type")
]
GatewayMessage = Annotated[
    Welcome | Refused | Lease | Idle | HeartbeatAck | ResultAck | LedgerEntries, Field(discriminator="type")
]


# ------------------------------------------------------------------ gossip


class Announcement(ParkModel):
    """A node's periodic `park/federation/announce/1` message: what it offers right now."""

    type: Literal["announce"] = "announce"
    offer: NodeCapabilities
    busy: int = 0
    paused: bool = False


class Revocation(ParkModel):
    """The authority's `park/federation/revocations/1` message: these peers are out."""

    type: Literal["revocation"] = "revocation"
    peers: list[PeerId] = Field(max_length=REVOCATIONS_PER_MESSAGE)
