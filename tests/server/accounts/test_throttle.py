"""The login and handshake throttles on a fake clock: per-address tokens that successes give back,
per-address-and-name back-off that doubles and is capped, the same treatment for every name,
exemptions, IPv6 /64 grouping and bounded memory."""

from __future__ import annotations

from server.accounts.throttle import HandshakeThrottle, LoginThrottle, address_key, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, **kw: object) -> LoginThrottle:
    settings: dict[str, object] = {
        "burst": 5, "per_minute": 6.0, "free_failures": 3, "max_backoff": 60.0, "exempt": (), "clock": clock,
    }  # fmt: skip
    settings.update(kw)
    return LoginThrottle(**settings)  # type: ignore[arg-type]


def test_an_address_gets_burst_failures_then_waits_for_refill() -> None:
    clock = Clock()
    t = throttle(clock, free_failures=100)
    for i in range(5):
        assert t.admit("203.0.113.7", f"name{i}") == 0.0
        t.failed("203.0.113.7", f"name{i}")
    wait = t.admit("203.0.113.7", "another")
    assert 9.9 < wait <= 10.0  # 6 per minute: one token every 10 s
    assert t.admit("198.51.100.1", "another") == 0.0  # other addresses are not affected
    clock.now += 10
    assert t.admit("203.0.113.7", "another") == 0.0


def test_successes_give_their_token_back() -> None:
    clock = Clock()
    t = throttle(clock)
    for _ in range(50):
        assert t.admit("203.0.113.7", "alice") == 0.0
        t.succeeded("203.0.113.7", "alice")


def test_a_name_backs_off_per_address_doubling_to_the_cap() -> None:
    clock = Clock()
    t = throttle(clock, burst=1000)
    waits = []
    for _ in range(12):
        wait = t.admit("203.0.113.7", "admin")
        clock.now += wait
        waits.append(wait)
        assert t.admit("203.0.113.7", "admin") == 0.0
        t.failed("203.0.113.7", "admin")
    assert waits[:4] == [0.0, 0.0, 0.0, 1.0]  # three free failures, then 1 s, 2 s, 4 s …
    assert waits[4:7] == [2.0, 4.0, 8.0]
    assert max(waits) == 60.0  # capped
    # The owner, from another address, is not slowed at all: a stranger cannot lock the admin out.
    assert t.admit("198.51.100.1", "admin") == 0.0
    # A success clears the pair.
    clock.now += 60
    assert t.admit("203.0.113.7", "admin") == 0.0
    t.succeeded("203.0.113.7", "admin")
    assert t.admit("203.0.113.7", "admin") == 0.0


def test_existing_and_unknown_names_are_treated_alike() -> None:
    """The throttle never looks at the database: its answers cannot tell which names exist."""
    clock = Clock()
    a, b = throttle(clock), throttle(clock)
    for _ in range(6):
        assert a.admit("203.0.113.7", "root-admin") == b.admit("203.0.113.7", "no-such-user")
        a.failed("203.0.113.7", "root-admin")
        b.failed("203.0.113.7", "no-such-user")


def test_exempt_addresses_and_ipv6_prefixes() -> None:
    clock = Clock()
    t = throttle(clock, burst=1, free_failures=1, exempt=("127.0.0.0/8", "::1/128"))
    for _ in range(10):
        assert t.admit("127.0.0.1", "x") == 0.0
        t.failed("127.0.0.1", "x")
        assert t.admit("::ffff:127.0.0.2", "x") == 0.0
    # One /64 is one address: a host cannot rotate through its 2^64 addresses.
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert t.admit("2001:db8:1:2::1", "x") == 0.0
    t.failed("2001:db8:1:2::1", "x")
    assert t.admit("2001:db8:1:2::99", "y") > 0


def test_memory_is_bounded() -> None:
    clock = Clock()
    t = throttle(clock, max_keys=100)
    for i in range(1000):
        host = f"10.0.{i // 256}.{i % 256}"
        t.admit(host, f"n{i}")
        t.failed(host, f"n{i}")
    assert len(t.addresses._buckets) <= 100 and len(t._pairs) <= 100


def test_handshakes_per_address() -> None:
    clock = Clock()
    h = HandshakeThrottle(burst=3, per_second=2.0, exempt=(), clock=clock)
    assert [h.admit("203.0.113.7") for _ in range(3)] == [0.0] * 3
    assert h.admit("203.0.113.7") == 0.5
    assert h.admit("203.0.113.8") == 0.0
    clock.now += 0.5
    assert h.admit("203.0.113.7") == 0.0
    assert retry_after(0.01) == "1" and retry_after(2.2) == "3"
