"""Admin and supervisor API: engineer accounts, customers and subscriptions, enrollment codes, devices.

Every change is audited before it is made, as `admin.*` events naming the admin.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from server.accounts import engineers as accounts
from server.accounts.engineers import AccountError, Engineer
from server.accounts.roles import Role
from server.audit import AuditWriteError, JsonValue
from server.devices import store as devices
from server.devices.rescue import is_rescue_device
from server.relay.notes import Note, NoteKind, agent_topic, engineer_topic
from server.relay.services import Services
from server.web.security import get_services, require_admin, require_supervisor

router = APIRouter(prefix="/api", tags=["admin"])

Subscription = Literal["active", "suspended", "cancelled"]


class EngineerOut(BaseModel):
    id: str
    username: str
    display_name: str
    role: str
    totp_enabled: bool
    disabled: bool


class NewEngineer(BaseModel):
    username: Annotated[str, Field(max_length=64)]
    password: Annotated[str, Field(min_length=accounts.MIN_PASSWORD, max_length=1024)]
    role: Literal["engineer", "supervisor", "admin"] = "engineer"
    display_name: Annotated[str, Field(max_length=128)] | None = None


class NewPassword(BaseModel):
    password: Annotated[str, Field(min_length=accounts.MIN_PASSWORD, max_length=1024)]


class CustomerOut(BaseModel):
    id: str
    name: str
    subscription: Subscription
    external_ref: str | None


class NewCustomer(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=128)]
    subscription: Subscription = "active"
    external_ref: Annotated[str, Field(max_length=128)] | None = None


class SubscriptionChange(BaseModel):
    subscription: Subscription


class EnrollmentCode(BaseModel):
    code: str
    customer_id: str
    expires_in_s: int


class DeviceOut(BaseModel):
    id: str
    customer_id: str
    name: str
    revoked: bool
    connected: bool
    rescue: bool = False  # enrolled by the rescue system (server/devices/rescue.py)


async def _audit(services: Services, admin: Engineer, kind: str, data: dict[str, JsonValue]) -> None:
    try:
        await services.record(kind, f"engineer:{admin.username}", None, data)
    except AuditWriteError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "could not be recorded; not done") from None


def _engineer_out(e: Engineer) -> EngineerOut:
    return EngineerOut(
        id=e.id, username=e.username, display_name=e.display_name, role=e.role.label,
        totp_enabled=e.totp_enabled, disabled=e.disabled,
    )  # fmt: skip


def _customer_out(c: devices.Customer) -> CustomerOut:
    return CustomerOut(id=c.id, name=c.name, subscription=c.subscription, external_ref=c.external_ref)


# -- engineers --------------------------------------------------------------------------------------


@router.get("/engineers")
async def list_engineers(request: Request, _: Engineer = require_admin) -> list[EngineerOut]:
    return [_engineer_out(e) for e in await accounts.list_engineers(get_services(request).engine)]


@router.post("/engineers", status_code=status.HTTP_201_CREATED)
async def add_engineer(form: NewEngineer, request: Request, admin: Engineer = require_admin) -> EngineerOut:
    services = get_services(request)
    await _audit(services, admin, "admin.engineer_added", {"username": form.username, "role": form.role})
    try:
        created = await accounts.create_engineer(
            services.engine, form.username, form.password, Role.parse(form.role), form.display_name
        )
    except AccountError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _engineer_out(created)


@router.post("/engineers/{username}/password", status_code=status.HTTP_204_NO_CONTENT)
async def reset_password(
    username: str, form: NewPassword, request: Request, admin: Engineer = require_admin
) -> None:
    services = get_services(request)
    await _audit(services, admin, "admin.password_reset", {"username": username})
    try:
        await accounts.set_password(services.engine, username, form.password)
    except AccountError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.post("/engineers/{username}/disable", status_code=status.HTTP_204_NO_CONTENT)
async def disable_engineer(username: str, request: Request, admin: Engineer = require_admin) -> None:
    services = get_services(request)
    await _audit(services, admin, "admin.engineer_disabled", {"username": username})
    try:
        target = await accounts.get_engineer(services.engine, username=username)
        await accounts.set_disabled(services.engine, username, True)
    except AccountError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    await services.bus.publish(engineer_topic(target.id), Note(NoteKind.KICK, f"engineer:{admin.username}"))


@router.post("/engineers/{username}/enable", status_code=status.HTTP_204_NO_CONTENT)
async def enable_engineer(username: str, request: Request, admin: Engineer = require_admin) -> None:
    services = get_services(request)
    await _audit(services, admin, "admin.engineer_enabled", {"username": username})
    try:
        await accounts.set_disabled(services.engine, username, False)
    except AccountError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


# -- customers and devices --------------------------------------------------------------------------


@router.get("/customers")
async def list_customers(request: Request, _: Engineer = require_supervisor) -> list[CustomerOut]:
    return [_customer_out(c) for c in await devices.list_customers(get_services(request).engine)]


@router.post("/customers", status_code=status.HTTP_201_CREATED)
async def add_customer(form: NewCustomer, request: Request, admin: Engineer = require_admin) -> CustomerOut:
    services = get_services(request)
    await _audit(
        services, admin, "admin.customer_added", {"name": form.name, "subscription": form.subscription}
    )
    customer = await devices.create_customer(services.engine, form.name, form.subscription, form.external_ref)
    return _customer_out(customer)


@router.get("/customers/{customer_id}")
async def get_customer(customer_id: str, request: Request, _: Engineer = require_supervisor) -> CustomerOut:
    try:
        return _customer_out(await devices.get_customer(get_services(request).engine, customer_id))
    except devices.DeviceError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.put("/customers/{customer_id}/subscription", status_code=status.HTTP_204_NO_CONTENT)
async def change_subscription(
    customer_id: str, form: SubscriptionChange, request: Request, admin: Engineer = require_admin
) -> None:
    services = get_services(request)
    await _audit(
        services,
        admin,
        "admin.subscription_changed",
        {"customer": customer_id, "subscription": form.subscription},
    )
    try:
        await devices.set_subscription(services.engine, customer_id, form.subscription)
    except devices.DeviceError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.post("/customers/{customer_id}/enrollment-codes", status_code=status.HTTP_201_CREATED)
async def new_enrollment_code(
    customer_id: str, request: Request, admin: Engineer = require_admin
) -> EnrollmentCode:
    services = get_services(request)
    ttl = services.config.enrollment_code_ttl
    await _audit(services, admin, "admin.enrollment_code_created", {"customer": customer_id, "ttl_s": ttl})
    try:
        code = await devices.create_enrollment_code(
            services.engine, customer_id, f"engineer:{admin.username}", ttl
        )
    except devices.DeviceError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return EnrollmentCode(code=code, customer_id=customer_id, expires_in_s=ttl)


@router.get("/customers/{customer_id}/devices")
async def customer_devices(
    customer_id: str, request: Request, _: Engineer = require_supervisor
) -> list[DeviceOut]:
    services = get_services(request)
    return [
        DeviceOut(
            id=d.id,
            customer_id=d.customer_id,
            name=d.name,
            revoked=d.revoked,
            connected=d.id in services.agents,
            rescue=is_rescue_device(d.name),
        )
        for d in await devices.list_devices(services.engine, customer_id)
    ]


@router.post("/devices/{device_id}/revoke", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_device(device_id: str, request: Request, admin: Engineer = require_admin) -> None:
    services = get_services(request)
    await _audit(services, admin, "admin.device_revoked", {"device": device_id})
    try:
        await devices.revoke_device(services.engine, device_id)
    except devices.DeviceError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    await services.bus.publish(agent_topic(device_id), Note(NoteKind.REVOKE, f"engineer:{admin.username}"))
