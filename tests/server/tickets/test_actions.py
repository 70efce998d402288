import hashlib

import pytest

from protocol.lifecycle import ActionState
from server.tickets.actions import MAX_OPEN_ACTIONS, ActionBook, ActionError


def test_consent_then_result() -> None:
    book = ActionBook()
    book.open("a1", "command")
    book.advance("a1", "consent.request")
    book.advance("a1", "consent.reply:allowed")
    book.advance("a1", "action.progress")
    assert book.advance("a1", "action.result:ok").state is ActionState.DONE
    assert book.open_ids() == []


def test_result_without_consent_is_refused() -> None:
    book = ActionBook()
    book.open("a1", "repair")
    with pytest.raises(ActionError):
        book.advance("a1", "action.result:ok")
    book.advance("a1", "consent.request")
    book.advance("a1", "consent.reply:denied")
    with pytest.raises(ActionError):
        book.advance("a1", "action.result:ok")  # denied stays denied


def test_ids_are_single_use_and_open_actions_bounded() -> None:
    book = ActionBook()
    book.open("a1", "diagnose")
    with pytest.raises(ActionError, match="already used"):
        book.open("a1", "diagnose")
    with pytest.raises(ActionError, match="no action"):
        book.advance("zz", "consent.request")
    for i in range(2, MAX_OPEN_ACTIONS + 1):
        book.open(f"a{i}", "diagnose")
    with pytest.raises(ActionError, match="open at once"):
        book.open("one-too-many", "diagnose")
    assert len(book.cancel_all()) == MAX_OPEN_ACTIONS
    book.open("after-cancel", "diagnose")


def test_file_chunks_in_order_within_size_after_consent() -> None:
    data = b"x" * 10 + b"y" * 5
    book = ActionBook()
    push = book.open("p1", "push_file", size=len(data), sha256=hashlib.sha256(data).hexdigest())
    with pytest.raises(ActionError, match="requested"):
        book.check_chunk("p1", 0, 10, False)  # not before the user allowed it
    book.advance("p1", "consent.request")
    book.advance("p1", "consent.reply:allowed")
    book.check_chunk("p1", 0, 10, False)
    book.take_chunk(push, data[:10])
    with pytest.raises(ActionError, match="offset"):
        book.check_chunk("p1", 0, 5, True)  # replayed chunk
    with pytest.raises(ActionError, match="past"):
        book.check_chunk("p1", 10, 6, True)
    with pytest.raises(ActionError, match="before the announced size"):
        book.check_chunk("p1", 10, 4, True)
    book.check_chunk("p1", 10, 5, True)
    book.take_chunk(push, data[10:])
    assert push.digest.hexdigest() == push.file_sha256
    book.open("c1", "command")
    with pytest.raises(ActionError, match="not a file push"):
        book.check_chunk("c1", 0, 1, True)


def test_pushes_in_flight_are_the_allowed_ones_not_yet_through() -> None:
    book = ActionBook()
    waiting = book.open("p0", "push_file", size=4, sha256="0" * 64)  # the user has not answered yet
    halfway = book.open("p1", "push_file", size=4, sha256="0" * 64)
    through = book.open("p2", "push_file", size=0, sha256="0" * 64)
    book.open("c1", "command")
    for action in (halfway, through):
        book.advance(action.id, "consent.request")
        book.advance(action.id, "consent.reply:allowed")
    book.advance("c1", "consent.request")
    book.advance("c1", "consent.reply:allowed")
    assert book.pushes_in_flight() == ["p1", "p2"]
    book.take_chunk(halfway, b"ab")
    book.take_chunk(through, b"", last=True)  # an empty file: its only chunk is the last
    assert book.pushes_in_flight() == ["p1"]
    assert waiting.state is ActionState.REQUESTED
