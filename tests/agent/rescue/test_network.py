"""The rescue system forgets Debian's template dial-ups before it diagnoses, and only those."""

from __future__ import annotations

from pathlib import Path

from agent.rescue.network import drop_template_peers


def test_template_dial_ups_go_and_the_users_own_stays(tmp_path: Path) -> None:
    peers = tmp_path / "peers"
    peers.mkdir()
    for name in ("dsl-provider", "provider", "rme"):
        (peers / name).write_text('plugin rp-pppoe.so\neth0\nuser "username"\n')
    assert drop_template_peers(peers) == ["dsl-provider", "provider"]
    assert sorted(p.name for p in peers.iterdir()) == ["rme"]
    assert drop_template_peers(peers) == []  # a restarted rescue screen finds them gone
    assert drop_template_peers(tmp_path / "no-such-dir") == []
