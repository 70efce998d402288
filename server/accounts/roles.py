"""Roles, ordered: each role may do everything the roles before it may."""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    ENGINEER = 1  # takes tickets, runs sessions
    SUPERVISOR = 2  # also sees everything live, ends any session, reads customers and devices
    ADMIN = 3  # also manages accounts, customers, enrollment codes, revocation

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value.upper()]
        except KeyError:
            raise ValueError(f"unknown role {value!r}; one of engineer, supervisor, admin") from None
