"""Provisioning from the operator's BSS: order, suspend, resume, cancel, change plan, customer update.

Each request is applied in ONE database transaction together with (a) its idempotency record — the
`webhook-id` and the answer given, so a repeat gets the first answer and changes nothing — and (b) a
`subscription.changed` billing event in the outbox. Customers are named by the BSS's own reference
(`external_ref`). Every change carries the BSS's `occurred_at`: a change older than the newest one
applied (`subscriptions.state_at`) is acknowledged and ignored, so out-of-order delivery cannot undo a
newer state (a late "suspend" after a "resume" stays ignored).

Status rules: an order makes the subscription active (a new order after a cancel re-activates);
suspend needs active, resume needs suspended, cancel is final for that subscription. A request the
rules refuse answers 409 with a code; nothing changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.billing.outbox import enqueue
from server.db.tables import aware, bss_requests, customers, new_id, plans, subscriptions

__all__ = [
    "Answer",
    "ChangePlan",
    "CustomerUpdate",
    "Order",
    "StatusChange",
    "apply_request",
    "stored_answer",
]

REF_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
Ref = Annotated[str, Field(min_length=1, max_length=128, pattern=REF_PATTERN)]
# No control characters: PostgreSQL refuses NUL in text (a 500, not a refusal), and no screen wants them.
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9._-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Order(_Strict):
    customer_ref: Ref
    customer_name: Name
    plan: Code
    kind: Literal["bundled", "standalone"]
    starts_on: dt.date
    occurred_at: dt.datetime


class StatusChange(_Strict):
    occurred_at: dt.datetime
    reason: Annotated[str, Field(max_length=256)] = ""


class ChangePlan(_Strict):
    plan: Code
    occurred_at: dt.datetime


class CustomerUpdate(_Strict):
    customer_name: Name
    occurred_at: dt.datetime


Action = Literal["order", "suspend", "resume", "cancel", "change_plan", "update"]


FUTURE_SKEW = dt.timedelta(minutes=5)  # the BSS's clock may be this far ahead of ours (as webhook-timestamp)
_ATTEMPTS = 5  # decisions per request when concurrent requests for the same customer keep winning


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite stores a time's clock reading and drops its offset: "08:00+08:00" would read back as
    # 08:00 UTC, eight hours late, and wrongly make the next change look stale. No offset means UTC.
    return aware(value).astimezone(dt.UTC)


def _problem(status: int, code: str, message: str) -> Answer:
    return Answer(status, {"code": code, "message": message})


_REQUEST = "_request"  # in a stored answer: the fingerprint of the request it answered (not sent)


def _fingerprint(integration_id: str, action: str, ref: str | None, body: _Strict) -> str:
    # The request as parsed (not its bytes): a resend with other spacing or key order is the same one.
    fields = {
        name: _utc(value).isoformat() if isinstance(value, dt.datetime) else value
        for name, value in body.model_dump().items()
    }
    what = [integration_id, action, ref, fields]
    return hashlib.sha256(
        json.dumps(what, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()


async def _stored(engine: AsyncEngine, webhook_id: str) -> tuple[Answer, str | None] | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(bss_requests.c.status_code, bss_requests.c.answer).where(
                    bss_requests.c.webhook_id == webhook_id
                )
            )
        ).first()
    if row is None:
        return None
    body = dict(row.answer)
    fingerprint = body.pop(_REQUEST, None)
    return Answer(row.status_code, body), fingerprint


async def stored_answer(engine: AsyncEngine, webhook_id: str) -> Answer | None:
    stored = await _stored(engine, webhook_id)
    return stored[0] if stored else None


async def _repeat(engine: AsyncEngine, webhook_id: str, fingerprint: str) -> Answer | None:
    """The first answer to this webhook-id — if it was this request. The same id on another request
    (another customer, action, body or integration) is refused: answering it with the first answer
    would tell the BSS a change was made that never was."""
    stored = await _stored(engine, webhook_id)
    if stored is None:
        return None
    answer, first = stored
    if first is not None and first != fingerprint:
        return _problem(
            409, "webhook_id.reused", "this webhook-id was used for another request; nothing changed"
        )
    return answer


async def _customer_id(conn: AsyncConnection, ref: str) -> str | None:
    found = await conn.scalar(sa.select(customers.c.id).where(customers.c.external_ref == ref))
    return str(found) if found else None


async def _subscription(conn: AsyncConnection, customer_id: str) -> Any:
    return (
        await conn.execute(sa.select(subscriptions).where(subscriptions.c.customer_id == customer_id))
    ).first()


async def _event(
    conn: AsyncConnection, customer_id: str, ref: str, action: str, *, status: str, plan: str, kind: str,
    occurred_at: dt.datetime, now: dt.datetime, key: str,
) -> None:  # fmt: skip
    await enqueue(
        conn,
        "subscription.changed",
        {
            "customer_id": customer_id,
            "customer_ref": ref,
            "change": action,
            "status": status,
            "plan": plan,
            "kind": kind,
            "occurred_at": occurred_at.isoformat(),
        },
        now,
        key,
    )


class _Conflict(Exception):
    """The subscription changed between our read and our write: decide again on the new state."""


async def _update_read(conn: AsyncConnection, current: Any, values: dict[str, Any]) -> None:
    # Only the row as read: a concurrent change committed in between (both read "active", both
    # would apply) makes this match nothing, and the request is decided again on the new state.
    done = await conn.execute(
        sa.update(subscriptions)
        .where(
            subscriptions.c.customer_id == current.customer_id,
            subscriptions.c.status == current.status,
            subscriptions.c.state_at == current.state_at,
        )
        .values(**values)
    )
    if done.rowcount != 1:
        raise _Conflict


async def _set_status(conn: AsyncConnection, customer_id: str, status: str) -> None:
    # The relay refuses help requests by `customers.subscription`; it follows the BSS's status.
    await conn.execute(sa.update(customers).where(customers.c.id == customer_id).values(subscription=status))


async def _apply(  # noqa: PLR0917  (one request's parts, in the order the handlers pass them)
    conn: AsyncConnection, action: Action, ref: str | None, body: _Strict, now: dt.datetime, webhook_id: str
) -> Answer:
    if _utc(body.occurred_at) > now + FUTURE_SKEW:  # type: ignore[attr-defined]
        # Not a schedule: a change applies when it arrives. A time ahead would apply it now and make
        # every real change before that time "stale" (the customer stuck until then).
        return _problem(
            422, "occurred_at.future", "occurred_at is in the future: send the change when it happens"
        )
    if action == "order":
        assert isinstance(body, Order)
        if await conn.scalar(sa.select(plans.c.code).where(plans.c.code == body.plan)) is None:
            return _problem(422, "plan.unknown", f"no plan {body.plan!r} in the catalogue")
        occurred = _utc(body.occurred_at)
        customer_id = await _customer_id(conn, body.customer_ref)
        if customer_id is None:
            customer_id = new_id("c")
            await conn.execute(
                sa.insert(customers).values(
                    id=customer_id, name=body.customer_name, external_ref=body.customer_ref,
                    subscription="active", created_at=now,
                )
            )  # fmt: skip
        current = await _subscription(conn, customer_id)
        if current is not None and occurred <= aware(current.state_at):
            return Answer(200, {"applied": False, "reason": "stale", "customer_id": customer_id})
        if current is not None and current.status != "cancelled":
            return _problem(
                409, "subscription.exists", "the customer already has a subscription: change its plan"
            )
        values = {
            "plan_code": body.plan, "kind": body.kind, "status": "active", "starts_on": body.starts_on,
            "state_at": occurred, "updated_at": now,
        }  # fmt: skip
        if current is None:
            await conn.execute(sa.insert(subscriptions).values(customer_id=customer_id, **values))
        else:
            await _update_read(conn, current, values)
        await conn.execute(
            sa.update(customers).where(customers.c.id == customer_id).values(name=body.customer_name)
        )
        await _set_status(conn, customer_id, "active")
        await _event(
            conn, customer_id, body.customer_ref, "order", status="active", plan=body.plan, kind=body.kind,
            occurred_at=occurred, now=now, key=f"bss:{webhook_id}",
        )  # fmt: skip
        return Answer(
            201, {"applied": True, "customer_id": customer_id, "status": "active", "plan": body.plan}
        )

    assert ref is not None
    # A reference from the URL path: one no order could have made names no customer (and a NUL in
    # it would be a database error on PostgreSQL).
    customer_id = await _customer_id(conn, ref) if re.fullmatch(REF_PATTERN, ref) else None
    if customer_id is None:
        return _problem(404, "customer.unknown", f"no customer with reference {ref!r}")
    if action == "update":
        assert isinstance(body, CustomerUpdate)
        await conn.execute(
            sa.update(customers).where(customers.c.id == customer_id).values(name=body.customer_name)
        )
        return Answer(200, {"applied": True, "customer_id": customer_id})
    current = await _subscription(conn, customer_id)
    if current is None:
        return _problem(409, "subscription.none", "the customer has no subscription: order one first")
    occurred = _utc(body.occurred_at)  # type: ignore[attr-defined]
    if occurred <= aware(current.state_at):
        return Answer(
            200, {"applied": False, "reason": "stale", "customer_id": customer_id, "status": current.status}
        )
    plan, status = current.plan_code, current.status
    if action == "change_plan":
        assert isinstance(body, ChangePlan)
        if await conn.scalar(sa.select(plans.c.code).where(plans.c.code == body.plan)) is None:
            return _problem(422, "plan.unknown", f"no plan {body.plan!r} in the catalogue")
        if status == "cancelled":
            return _problem(409, "subscription.cancelled", "a cancelled subscription cannot change plan")
        plan = body.plan
    elif action == "suspend":
        if status != "active":
            return _problem(
                409,
                f"subscription.{status}",
                f"only an active subscription can be suspended (it is {status})",
            )
        status = "suspended"
    elif action == "resume":
        if status != "suspended":
            return _problem(
                409,
                f"subscription.{status}",
                f"only a suspended subscription can be resumed (it is {status})",
            )
        status = "active"
    elif action == "cancel":
        if status == "cancelled":
            return _problem(409, "subscription.cancelled", "the subscription is already cancelled")
        status = "cancelled"
    await _update_read(
        conn, current, {"plan_code": plan, "status": status, "state_at": occurred, "updated_at": now}
    )
    await _set_status(conn, customer_id, status)
    await _event(
        conn,
        customer_id,
        ref,
        action,
        status=status,
        plan=plan,
        kind=current.kind,
        occurred_at=occurred,
        now=now,
        key=f"bss:{webhook_id}",
    )
    return Answer(200, {"applied": True, "customer_id": customer_id, "status": status, "plan": plan})


async def apply_request(
    engine: AsyncEngine,
    *,
    webhook_id: str,
    integration_id: str,
    action: Action,
    ref: str | None,
    body: _Strict,
    now: dt.datetime,
) -> Answer:
    """Apply once per `webhook-id`: the change, its answer and its billing event in one transaction.
    A repeat (even one racing the first) gets the first answer."""
    fingerprint = _fingerprint(integration_id, action, ref, body)
    for attempt in range(_ATTEMPTS):
        previous = await _repeat(engine, webhook_id, fingerprint)
        if previous is not None:
            return previous
        try:
            async with engine.begin() as conn:
                answer = await _apply(conn, action, ref, body, now, webhook_id)
                if answer.status_code >= 400:
                    # Refused: remember the answer but not in this (rolled back) transaction.
                    raise _Refused(answer)
                await conn.execute(
                    sa.insert(bss_requests).values(
                        webhook_id=webhook_id, integration_id=integration_id, received_at=now,
                        status_code=answer.status_code, answer={**answer.body, _REQUEST: fingerprint},
                    )
                )  # fmt: skip
            return answer
        except _Refused as refused:
            answer = refused.answer
            break
        except (_Conflict, IntegrityError):
            # The same webhook-id committed meanwhile (a concurrent repeat: its answer stands, read
            # at the loop's top), or another request changed this customer or created it (the same
            # new customer_ref ordered twice at once): decide again on what is there now.
            if attempt == _ATTEMPTS - 1:
                raise
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(bss_requests).values(
                    webhook_id=webhook_id, integration_id=integration_id, received_at=now,
                    status_code=answer.status_code, answer={**answer.body, _REQUEST: fingerprint},
                )
            )  # fmt: skip
    except IntegrityError:
        repeat = await _repeat(engine, webhook_id, fingerprint)
        if repeat is not None:
            return repeat
    return answer


class _Refused(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body.get("code"))
        self.answer = answer
