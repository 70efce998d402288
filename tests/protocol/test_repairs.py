"""The repair catalogue's shared data (`protocol.repairs`): what both the agent and the console read."""

from __future__ import annotations

from protocol.repairs import BY_ID, CATALOGUE


def test_ids_are_unique_and_look_like_codes() -> None:
    ids = [spec.id for spec in CATALOGUE]
    assert len(ids) == len(set(ids)) == len(BY_ID)
    assert all(spec.id.count(".") == 1 and spec.id == spec.id.lower() for spec in CATALOGUE)


def test_every_text_exists_in_both_languages_with_risk_and_undo() -> None:
    for spec in CATALOGUE:
        assert spec.risk in ("low", "medium", "high") and spec.platforms
        for text in (spec.title, spec.description, spec.risk_note, spec.undo):
            assert text.zh.strip() and text.en.strip(), spec.id
            assert text.zh != text.en, spec.id
        zh, en = spec.describe("zh-CN", interface="eth0", servers="223.5.5.5"), spec.describe("en")
        assert zh["id"] == en["id"] == spec.id and zh["risk"] == spec.risk
        assert "{" not in str(zh["description"])  # every blank filled


def test_the_agents_catalogue_is_the_protocols() -> None:
    from agent.repairs import catalogue, get_spec

    assert tuple(catalogue()) == CATALOGUE
    assert all(get_spec(spec.id) is spec for spec in CATALOGUE)
