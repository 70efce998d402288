"""Slowing down guessing without handing strangers a lock: per-address and per-address-and-name
throttles for logins, and a per-address rate for anonymous WebSocket handshakes (pure, in memory).

The old rule locked an *account* after 5 failures, which let anyone lock anyone out (the admin
included), and it answered 429 only for names that exist. Now:

- **Per address**: failed logins spend tokens from the address's bucket (`burst`, refilled at
  `per_minute`); a success gives its token back, so engineers who log in right are never slowed.
  The token is taken *before* the password is hashed, so a flood is refused without any Argon2 work.
- **Per address and name**: after `free_failures` failures of one name from one address, that pair
  waits 1 s, 2 s, 4 s … (at most `max_backoff`) between attempts; a success clears it. The same
  name from another address is not affected: an attacker slows only himself.
- The answer is the same for every name, existing or not (429 with Retry-After); nothing here looks
  at the database.

Addresses are IPv4 /32 or IPv6 /64 (one home or host gets a whole /64). Addresses in `exempt`
(default: loopback) are not throttled: that is where a local reverse proxy or the operator's own
tools connect from, and throttling a proxy's address would throttle every client behind it (such a
proxy must do per-client limiting itself). Memory is bounded: at most `max_keys` addresses and pairs
are remembered, the least recently used forgotten first. Each node keeps its own counts.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

Clock = Callable[[], float]
LOOPBACK = ("127.0.0.0/8", "::1/128")
MAX_KEYS = 100_000
V = TypeVar("V")


def address_key(host: str | None) -> str:
    """The unit of throttling for a peer address: IPv4 as is, IPv6 by its /64."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if ip.version == 6:
        mapped = ip.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Exemptions:
    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, str) or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.networks)


class _Lru(Generic[V]):
    """A dict that forgets its least recently used keys beyond `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: OrderedDict[str, V] = OrderedDict()

    def get(self, key: str) -> V | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.limit:
            self.items.popitem(last=False)

    def pop(self, key: str) -> None:
        self.items.pop(key, None)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """One token bucket per key: `burst` tokens, refilled at `rate` per second."""

    def __init__(
        self, rate: float, burst: int, clock: Clock = time.monotonic, max_keys: int = MAX_KEYS
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: _Lru[_Bucket] = _Lru(max_keys)

    def _bucket(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        self._buckets.put(key, bucket)
        return bucket

    def take(self, key: str) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there will be."""
        bucket = self._bucket(key)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def give_back(self, key: str) -> None:
        bucket = self._bucket(key)
        bucket.tokens = min(float(self.burst), bucket.tokens + 1.0)


@dataclass
class _Failures:
    count: int
    until: float  # no attempt of this pair before this time


class LoginThrottle:
    def __init__(
        self,
        *,
        burst: int,
        per_minute: float,
        free_failures: int,
        max_backoff: float,
        exempt: Iterable[str] = LOOPBACK,
        clock: Clock = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.addresses = TokenBuckets(per_minute / 60.0, burst, clock, max_keys)
        self.free_failures = free_failures
        self.max_backoff = max_backoff
        self.exempt = Exemptions(exempt)
        self.clock = clock
        self._pairs: _Lru[_Failures] = _Lru(max_keys)

    @staticmethod
    def _pair(host: str | None, name: str) -> str:
        return f"{address_key(host)}\x00{name.lower()[:64]}"

    def admit(self, host: str | None, name: str) -> float:
        """0.0 if this attempt may go ahead (a token is then held for it), else seconds to wait."""
        if host in self.exempt:
            return 0.0
        failures = self._pairs.get(self._pair(host, name))
        if failures is not None:
            wait = failures.until - self.clock()
            if wait > 0:
                return wait
        return self.addresses.take(address_key(host))

    def succeeded(self, host: str | None, name: str) -> None:
        """The attempt was right (or not the caller's fault): give its token back, forget the pair."""
        if host in self.exempt:
            return
        self.addresses.give_back(address_key(host))
        self._pairs.pop(self._pair(host, name))

    def failed(self, host: str | None, name: str) -> None:
        """The attempt was wrong: its token stays spent; the pair backs off once past the free ones."""
        if host in self.exempt:
            return
        key = self._pair(host, name)
        previous = self._pairs.get(key)
        count = (previous.count if previous else 0) + 1
        over = count - self.free_failures
        backoff = 0.0 if over < 0 else min(self.max_backoff, 2.0 ** min(over, 30))
        self._pairs.put(key, _Failures(count, self.clock() + backoff))


class HandshakeThrottle:
    """Anonymous WebSocket handshakes per address (`burst`, refilled at `per_second`)."""

    def __init__(
        self,
        *,
        burst: int,
        per_second: float,
        exempt: Iterable[str] = LOOPBACK,
        clock: Clock = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.buckets = TokenBuckets(per_second, burst, clock, max_keys)
        self.exempt = Exemptions(exempt)

    def admit(self, host: str | None) -> float:
        if host in self.exempt:
            return 0.0
        return self.buckets.take(address_key(host))


def retry_after(seconds: float) -> str:
    """An HTTP Retry-After value (whole seconds, at least 1)."""
    return str(max(1, math.ceil(seconds)))
