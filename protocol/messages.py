"""The message catalogue: one envelope, one typed model per message type.

Every text frame is a JSON object `{"v", "type", "id", "session", "ts", "body"}`. `type` selects the body
model; `extra="forbid"` everywhere means a frame is either entirely valid or rejected — never a
partially valid object. Who may send each type to whom is in `protocol.directions`.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from protocol.actions import ActionOutcome, ActionParams, ShortText
from protocol.limits import (
    MAX_AUDIT_LEAF,
    MAX_CATALOGUE_ITEMS,
    MAX_CHAT_TEXT,
    MAX_CHECKPOINT_NOTE,
    MAX_ID_LENGTH,
    MAX_RECEIPT,
    MAX_RECORDS,
    MAX_SUMMARY_TEXT,
    MAX_USER_WORDS,
)
from protocol.report import Code, DiagnosisReport, Verdict
from protocol.screen import MAX_INPUT_EVENTS, InputEvent

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[A-Za-z0-9_.:-]+$")]
# 32 random bytes, base64url without padding (43 characters).
Nonce = Annotated[str, Field(max_length=43, pattern=r"^[A-Za-z0-9_-]{43}$")]
# An Ed25519 public key (32 bytes) or signature (64 bytes), base64url without padding.
PublicKey = Annotated[str, Field(max_length=43, pattern=r"^[A-Za-z0-9_-]{43}$")]
Signature = Annotated[str, Field(max_length=86, pattern=r"^[A-Za-z0-9_-]{86}$")]
# A SHA-256 hash in standard base64 (as the audit log's proofs and checkpoints write them).
Hash = Annotated[str, Field(max_length=44, pattern=r"^[A-Za-z0-9+/]{43}=$")]
Lang = Literal["zh-CN", "en"]
Role = Literal["agent", "engineer"]


def new_id() -> str:
    """A fresh message/action id: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalText(_Strict):
    """A text for the home user in both languages; the agent shows the one the user reads."""

    zh_CN: Annotated[str, Field(max_length=MAX_SUMMARY_TEXT)]
    en: Annotated[str, Field(max_length=MAX_SUMMARY_TEXT)]


class EngineerIdentity(_Strict):
    """Who is connecting: shown to the user before they accept a session."""

    id: Id
    name: ShortText


# ---- bodies -------------------------------------------------------------------------------------


class HelloBody(_Strict):
    role: Role
    versions: Annotated[list[Annotated[int, Field(ge=1, le=255)]], Field(min_length=1, max_length=16)]
    software: ShortText
    os: ShortText | None = None


class WelcomeBody(_Strict):
    version: Annotated[int, Field(ge=1, le=255)]
    server: ShortText
    heartbeat_s: Annotated[int, Field(ge=1, le=3600)] = 30


class AuthChallengeBody(_Strict):
    nonce: Nonce


class AuthResponseBody(_Strict):
    device_id: Id
    signature: Signature
    channel_binding: Literal["tls-server-end-point"] = "tls-server-end-point"


class AuthOkBody(_Strict):
    device_id: Id
    customer_id: Id


class EnrollRequestBody(_Strict):
    code: Annotated[str, Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
    public_key: PublicKey
    device_name: ShortText
    os: ShortText


class EnrollOkBody(_Strict):
    device_id: Id
    customer_id: Id


class HeartbeatBody(_Strict):
    seq: Annotated[int, Field(ge=0, le=2**53)] = 0


class HelpRequestBody(_Strict):
    words: Annotated[str, Field(max_length=MAX_USER_WORDS)]
    report: DiagnosisReport | None = None
    lang: Lang = "zh-CN"
    # The service item the user picked from the catalogue (`catalogue`), if any (事前可选).
    service_item: Code | None = None


class HelpQueuedBody(_Strict):
    ticket_id: Id
    position: Annotated[int, Field(ge=0)]
    estimated_wait_s: Annotated[int, Field(ge=0)] | None = None


class HelpRefusedBody(_Strict):
    reason: Code
    message: LocalText


class TicketSummary(_Strict):
    ticket_id: Id
    state: Code
    customer_id: Id
    customer_name: ShortText
    subscription: Literal["active", "suspended", "cancelled"]
    words: Annotated[str, Field(max_length=MAX_USER_WORDS)]
    verdict: Verdict | None = None
    root_cause: Code | None = None
    created_ms: Annotated[int, Field(ge=0)]
    # Who holds it once accepted: a console finds its own running sessions again after a reload.
    engineer_id: Id | None = None
    service_item: Code | None = None  # the item the user picked (the catalogue's code)
    # Asked from the rescue system (a PC whose own OS does not start): engineers see it in the queue.
    rescue: bool = False


class QueueUpdateBody(_Strict):
    """Pushed to engineers: changed tickets, removed ticket ids; `snapshot` means 'this is all of them'."""

    changed: Annotated[list[TicketSummary], Field(max_length=1000)] = Field(default_factory=list)
    removed: Annotated[list[Id], Field(max_length=1000)] = Field(default_factory=list)
    snapshot: bool = False


class TicketAcceptBody(_Strict):
    ticket_id: Id


class SessionOfferBody(_Strict):
    ticket_id: Id
    engineer: EngineerIdentity


class SessionAcceptBody(_Strict):
    pass


class SessionDeclineBody(_Strict):
    reason: ShortText | None = None


class ConsentRequestBody(_Strict):
    """The agent tells the engineer the user is being asked (and for how long)."""

    action_id: Id
    timeout_s: Annotated[int, Field(ge=1, le=3600)]


class ConsentReplyBody(_Strict):
    """The user's answer. `refused` is the agent's own policy (e.g. a vault path), before asking."""

    action_id: Id
    decision: Literal["allowed", "denied", "timed_out", "refused"]
    reason: ShortText | None = None


class ActionRequestBody(_Strict):
    action_id: Id
    action: ActionParams
    reason: ShortText = ""


class ActionProgressBody(_Strict):
    action_id: Id
    done: Annotated[int, Field(ge=0)] | None = None
    total: Annotated[int, Field(ge=0)] | None = None
    note: ShortText | None = None


class ActionResultBody(_Strict):
    action_id: Id
    status: Literal["ok", "failed", "cancelled"]
    outcome: ActionOutcome | None = None
    error: ShortText | None = None


class ActionStopBody(_Strict):
    """The engineer stops an action that stays on until stopped (a screen view or control)."""

    action_id: Id


class ScreenInputBody(_Strict):
    """The engineer's mouse and keyboard, for the running `screen_control` action `action_id`."""

    action_id: Id
    events: Annotated[list[InputEvent], Field(min_length=1, max_length=MAX_INPUT_EVENTS)]


class ChatBody(_Strict):
    text: Annotated[str, Field(min_length=1, max_length=MAX_CHAT_TEXT)]


SessionEndReason = Literal[
    "resolved",
    "unresolved",
    "ended_by_user",
    "ended_by_engineer",
    "timed_out",
    "connection_lost",
    "declined",
    "not_entitled",
]


class SessionEndBody(_Strict):
    reason: SessionEndReason
    resolution: Code | None = None
    note: Annotated[str, Field(max_length=MAX_SUMMARY_TEXT)] | None = None


class FeedbackBody(_Strict):
    """The user's satisfaction rating after a session."""

    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, Field(max_length=MAX_SUMMARY_TEXT)] = ""


class AuditEvidenceBody(_Strict):
    """At a session's end: proof that the session's last audit event is in the server's signed log.

    The agent keeps it (the user's own copy) and can check it offline: `leaf` hashed, with `proof`
    (RFC 9162 inclusion path, base64 hashes), leads to the root of `checkpoint`, a C2SP signed note
    signed by `log_key` and possibly cosigned by the witnesses in `witness_keys`.
    """

    index: Annotated[int, Field(ge=0, le=2**53)]
    leaf: Annotated[str, Field(min_length=2, max_length=MAX_AUDIT_LEAF)]
    proof: Annotated[list[Hash], Field(max_length=64)]
    checkpoint: Annotated[str, Field(min_length=1, max_length=MAX_CHECKPOINT_NOTE)]
    log_key: ShortText
    witness_keys: Annotated[list[ShortText], Field(max_length=8)] = Field(default_factory=list)


class CatalogueRequestBody(_Strict):
    """The agent asks which service items this customer may pick, at what price."""


class CatalogueEntry(_Strict):
    code: Code
    name: LocalText
    description: LocalText
    price_cents: Annotated[int, Field(ge=0)]  # what the user pays: 0 when included in the plan
    list_price_cents: Annotated[int, Field(ge=0)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    expected_minutes: Annotated[int, Field(ge=1, le=1440)]
    included: bool  # included in the customer's plan (this month's allowance not used up)
    allowed: bool  # may be picked now
    reason: Code | None = None  # why not, when not allowed


class CatalogueBody(_Strict):
    """The service items for this customer. `billing` False: no catalogue, no items to pick."""

    billing: bool
    plan: LocalText | None = None
    sessions_left: Annotated[int, Field(ge=0)] | None = None  # None: no monthly limit
    items: Annotated[list[CatalogueEntry], Field(max_length=MAX_CATALOGUE_ITEMS)] = Field(
        default_factory=list
    )
    refusal: LocalText | None = None  # the subscription's own refusal (suspended, cancelled, …)


class RecordsRequestBody(_Strict):
    """The agent asks for this device's service records (事后可查), newest first."""

    limit: Annotated[int, Field(ge=1, le=MAX_RECORDS)] = 20


class RecordsBody(_Strict):
    """Signed service receipts (`rme-service-receipt/1` JSON documents), newest first."""

    receipts: Annotated[
        list[Annotated[str, Field(min_length=2, max_length=MAX_RECEIPT)]], Field(max_length=MAX_RECORDS)
    ] = Field(default_factory=list)


class ErrorBody(_Strict):
    code: Code
    message: ShortText
    ref: Id | None = None


# ---- envelopes ----------------------------------------------------------------------------------


class Envelope(_Strict):
    """Fields every message shares. `session` names the support session a message belongs to."""

    v: Annotated[int, Field(ge=1, le=255)] = PROTOCOL_VERSION
    id: Id = Field(default_factory=new_id)
    session: Id | None = None
    ts: Annotated[int, Field(ge=0, le=2**53)] = Field(default_factory=now_ms)


class Hello(Envelope):
    type: Literal["hello"] = "hello"
    body: HelloBody


class Welcome(Envelope):
    type: Literal["welcome"] = "welcome"
    body: WelcomeBody


class AuthChallenge(Envelope):
    type: Literal["auth.challenge"] = "auth.challenge"
    body: AuthChallengeBody


class AuthResponse(Envelope):
    type: Literal["auth.response"] = "auth.response"
    body: AuthResponseBody


class AuthOk(Envelope):
    type: Literal["auth.ok"] = "auth.ok"
    body: AuthOkBody


class EnrollRequest(Envelope):
    type: Literal["enroll.request"] = "enroll.request"
    body: EnrollRequestBody


class EnrollOk(Envelope):
    type: Literal["enroll.ok"] = "enroll.ok"
    body: EnrollOkBody


class Heartbeat(Envelope):
    type: Literal["heartbeat"] = "heartbeat"
    body: HeartbeatBody = Field(default_factory=HeartbeatBody)


class HelpRequest(Envelope):
    type: Literal["help.request"] = "help.request"
    body: HelpRequestBody


class HelpQueued(Envelope):
    type: Literal["help.queued"] = "help.queued"
    body: HelpQueuedBody


class HelpRefused(Envelope):
    type: Literal["help.refused"] = "help.refused"
    body: HelpRefusedBody


class QueueUpdate(Envelope):
    type: Literal["queue.update"] = "queue.update"
    body: QueueUpdateBody


class TicketAccept(Envelope):
    type: Literal["ticket.accept"] = "ticket.accept"
    body: TicketAcceptBody


class SessionOffer(Envelope):
    type: Literal["session.offer"] = "session.offer"
    body: SessionOfferBody


class SessionAccept(Envelope):
    type: Literal["session.accept"] = "session.accept"
    body: SessionAcceptBody = Field(default_factory=SessionAcceptBody)


class SessionDecline(Envelope):
    type: Literal["session.decline"] = "session.decline"
    body: SessionDeclineBody = Field(default_factory=SessionDeclineBody)


class ConsentRequest(Envelope):
    type: Literal["consent.request"] = "consent.request"
    body: ConsentRequestBody


class ConsentReply(Envelope):
    type: Literal["consent.reply"] = "consent.reply"
    body: ConsentReplyBody


class ActionRequest(Envelope):
    type: Literal["action.request"] = "action.request"
    body: ActionRequestBody


class ActionProgress(Envelope):
    type: Literal["action.progress"] = "action.progress"
    body: ActionProgressBody


class ActionResult(Envelope):
    type: Literal["action.result"] = "action.result"
    body: ActionResultBody


class ActionStop(Envelope):
    type: Literal["action.stop"] = "action.stop"
    body: ActionStopBody


class ScreenInput(Envelope):
    type: Literal["screen.input"] = "screen.input"
    body: ScreenInputBody


class Chat(Envelope):
    type: Literal["chat"] = "chat"
    body: ChatBody


class SessionEnd(Envelope):
    type: Literal["session.end"] = "session.end"
    body: SessionEndBody


class Feedback(Envelope):
    type: Literal["feedback"] = "feedback"
    body: FeedbackBody


class Error(Envelope):
    type: Literal["error"] = "error"
    body: ErrorBody


class AuditEvidence(Envelope):
    type: Literal["audit.evidence"] = "audit.evidence"
    body: AuditEvidenceBody


class CatalogueRequest(Envelope):
    type: Literal["catalogue.request"] = "catalogue.request"
    body: CatalogueRequestBody = Field(default_factory=CatalogueRequestBody)


class Catalogue(Envelope):
    type: Literal["catalogue"] = "catalogue"
    body: CatalogueBody


class RecordsRequest(Envelope):
    type: Literal["records.request"] = "records.request"
    body: RecordsRequestBody = Field(default_factory=RecordsRequestBody)


class Records(Envelope):
    type: Literal["records"] = "records"
    body: RecordsBody


Message = Annotated[
    Hello
    | Welcome
    | AuthChallenge
    | AuthResponse
    | AuthOk
    | EnrollRequest
    | EnrollOk
    | Heartbeat
    | HelpRequest
    | HelpQueued
    | HelpRefused
    | QueueUpdate
    | TicketAccept
    | SessionOffer
    | SessionAccept
    | SessionDecline
    | ConsentRequest
    | ConsentReply
    | ActionRequest
    | ActionProgress
    | ActionResult
    | Chat
    | SessionEnd
    | Feedback
    | Error
    | AuditEvidence
    | ActionStop
    | ScreenInput
    | CatalogueRequest
    | Catalogue
    | RecordsRequest
    | Records,
    Field(discriminator="type"),
]

MESSAGE_CLASSES: tuple[type[Envelope], ...] = (
    Hello, Welcome, AuthChallenge, AuthResponse, AuthOk, EnrollRequest, EnrollOk, Heartbeat,
    HelpRequest, HelpQueued, HelpRefused, QueueUpdate, TicketAccept, SessionOffer, SessionAccept,
    SessionDecline, ConsentRequest, ConsentReply, ActionRequest, ActionProgress, ActionResult, Chat,
    SessionEnd, Feedback, Error, AuditEvidence, ActionStop, ScreenInput,
    CatalogueRequest, Catalogue, RecordsRequest, Records,
)  # fmt: skip
# The wire name of each class, e.g. "action.request".
MESSAGE_TYPES: dict[str, type[Envelope]] = {
    str(cls.model_fields["type"].default): cls for cls in MESSAGE_CLASSES
}
