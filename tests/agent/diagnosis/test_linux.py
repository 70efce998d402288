"""Linux fact gathering: parsers on recorded text, sysfs reading on a fake tree and on the real one."""

from __future__ import annotations

from pathlib import Path

from agent.diagnosis import linux
from tests.agent.diagnosis.facts_builder import FIXTURES


def test_proc_net_route_default_routes() -> None:
    routes = linux.parse_proc_route((FIXTURES / "linux_proc_net_route.txt").read_text())
    assert [(r.gateway, r.interface, r.metric) for r in routes] == [
        ("192.168.1.1", "wlp2s0", 600),
        ("192.168.1.254", "enp3s0", 100),
        (None, "ppp0", 0),
    ]


def test_resolv_conf_parsing() -> None:
    text = "# comment\nsearch lan\nnameserver 192.168.1.1\nnameserver fe80::1%eth0\noptions edns0\n"
    assert linux.parse_resolv_conf(text) == ("192.168.1.1", "fe80::1")


def test_systemd_resolved_stub_is_replaced_by_its_upstreams(tmp_path: Path) -> None:
    stub, upstreams = tmp_path / "resolv.conf", tmp_path / "upstream.conf"
    stub.write_text("nameserver 127.0.0.53\noptions edns0 trust-ad\n")
    upstreams.write_text("nameserver 192.168.1.1\nnameserver 223.5.5.5\n")
    config = linux.read_resolvers(stub, upstreams)
    assert config.servers == ("192.168.1.1", "223.5.5.5")
    assert config.stub == "127.0.0.53" and "systemd-resolved" in config.source


def test_plain_resolv_conf_is_taken_as_is(tmp_path: Path) -> None:
    plain = tmp_path / "resolv.conf"
    plain.write_text("nameserver 10.0.0.1\n")
    config = linux.read_resolvers(plain, tmp_path / "missing")
    assert (config.servers, config.stub) == (("10.0.0.1",), None)


def _fake_interface(
    root: Path,
    name: str,
    flags: str,
    carrier: str | None,
    hw_type: str = "1",
    device: bool = False,
    wireless: bool = False,
) -> None:
    base = root / name
    base.mkdir()
    (base / "flags").write_text(flags + "\n")
    (base / "type").write_text(hw_type + "\n")
    (base / "address").write_text("02:00:00:00:00:01\n")
    if carrier is not None:
        (base / "carrier").write_text(carrier + "\n")
    if device:
        (base / "device").mkdir()
    if wireless:
        (base / "wireless").mkdir()


def test_sysfs_states_and_kinds(tmp_path: Path) -> None:
    _fake_interface(tmp_path, "enp3s0", "0x1003", "1", device=True)
    _fake_interface(tmp_path, "wlp2s0", "0x1003", "0", device=True, wireless=True)
    _fake_interface(tmp_path, "eth1", "0x1002", None, device=True)  # admin down: carrier unreadable
    _fake_interface(tmp_path, "docker0", "0x1003", "0")
    _fake_interface(tmp_path, "veth1a2b", "0x1003", "1")
    _fake_interface(tmp_path, "eth0", "0x1003", "1")  # a container's veth named eth0 is its adapter
    _fake_interface(tmp_path, "ppp0", "0x10d1", "1", hw_type="512")
    _fake_interface(tmp_path, "lo", "0x9", "1", hw_type="772")
    by_name = {i.name: i for i in linux.read_interfaces(tmp_path)}
    assert (by_name["enp3s0"].kind, by_name["enp3s0"].carrier) == ("ethernet", True)
    assert (by_name["wlp2s0"].kind, by_name["wlp2s0"].carrier) == ("wifi", False)
    assert (by_name["eth1"].admin_up, by_name["eth1"].carrier) == (False, None)
    assert by_name["docker0"].kind == by_name["veth1a2b"].kind == by_name["lo"].kind == "virtual"
    assert by_name["eth0"].kind == "ethernet" and by_name["ppp0"].kind == "ppp"


def test_real_local_facts_read_without_error() -> None:
    facts = linux.read_local_facts()
    assert facts.platform == "linux" and facts.errors == ()
    assert "lo" in {i.name for i in facts.interfaces}
    loopback = next(i for i in facts.interfaces if i.name == "lo")
    assert loopback.kind == "virtual" and loopback.ipv4[0].address == "127.0.0.1"


def test_neighbour_table_lookup_of_an_unknown_address_is_false() -> None:
    assert linux.neighbour_complete("192.0.2.254") is False
