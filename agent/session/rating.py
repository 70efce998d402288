""" "How did it go?": the satisfaction rating of the last ended session, asked once, sent once.

The server takes a rating only on the connection that saw the session end, so a lost connection drops
the question, and a rating never overtakes the end report it follows (it waits for it a moment).
Bad input is refused with a reason (`FeedbackRefused.problem`) before anything is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from agent.session import texts
from agent.session.feed import Feed
from protocol.limits import MAX_SUMMARY_TEXT
from protocol.messages import EngineerIdentity, Feedback, FeedbackBody, SessionEndReason

if TYPE_CHECKING:
    from agent.session.outbox import Outbox

MAX_FEEDBACK_COMMENT = MAX_SUMMARY_TEXT  # the protocol's limit for `FeedbackBody.comment`
END_REPORT_WAIT_S = 5.0  # a rating waits this long for the end report to leave first
FeedbackProblem = Literal["bad_rating", "comment_too_long", "no_session", "already_rated", "offline"]


@dataclass
class RatingOffer:
    """An ended session the user may rate once."""

    session: str
    engineer: EngineerIdentity
    reason: SessionEndReason
    end_report: asyncio.Task[Any] | None = None  # the rating must not overtake the end it follows


class FeedbackRefused(Exception):
    """The rating was not sent: `problem` says why (bad input, nothing to rate, already rated, offline)."""

    def __init__(self, problem: FeedbackProblem, message: str) -> None:
        super().__init__(message)
        self.problem: FeedbackProblem = problem
        self.message = message


class RatingDesk:
    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.offer: RatingOffer | None = None  # the session the panel asks "How did it go?" about
        self.rated: set[str] = set()  # sessions rated or dismissed: one answer per session
        self.last_ended: str | None = None  # the last session that was active when it ended

    def ended(
        self,
        session: str,
        engineer: EngineerIdentity,
        reason: SessionEndReason,
        report: asyncio.Task[Any] | None,
    ) -> None:
        """A session that ran has ended: ask about it (unless it was declined or already answered)."""
        self.last_ended = session
        if reason != "declined" and session not in self.rated:
            self.offer = RatingOffer(session, engineer, reason, report)

    def forget(self) -> None:
        """A new offer, or the connection that saw the end is gone: the question is no longer asked."""
        self.offer = None

    async def send(self, outbox: Outbox, rating: object, comment: object = "") -> int:
        """Send the user's 1–5 rating; raises `FeedbackRefused` if it was not sent."""
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise FeedbackRefused("bad_rating", "the rating must be a whole number from 1 to 5")
        if comment is None:
            comment = ""
        if not isinstance(comment, str):
            raise FeedbackRefused("bad_rating", "the comment must be text")
        words = comment.strip()
        if len(words) > MAX_FEEDBACK_COMMENT:
            raise FeedbackRefused(
                "comment_too_long", f"the comment is longer than {MAX_FEEDBACK_COMMENT} characters"
            )
        offer = self.offer
        if offer is None:
            if self.last_ended is not None and self.last_ended in self.rated:
                raise FeedbackRefused("already_rated", "this session was already rated or dismissed")
            raise FeedbackRefused("no_session", "there is no ended session to rate")
        self.offer = None  # one rating per session, even if two clicks race
        if offer.end_report is not None and not offer.end_report.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(offer.end_report), END_REPORT_WAIT_S)
        message = Feedback(session=offer.session, body=FeedbackBody(rating=rating, comment=words))
        if not await outbox.deliver(message):
            self.feed.add("feedback", texts.FEEDBACK_OFFLINE, rating=rating)
            raise FeedbackRefused("offline", "not connected to the server: the rating was not sent")
        self.rated.add(offer.session)
        self.feed.add("feedback", texts.FEEDBACK_SENT, detail=words or None, rating=rating)
        return rating

    def dismiss(self) -> bool:
        """The user said "No thanks": forget the question for this session; nothing is sent."""
        offer = self.offer
        if offer is None:
            return False
        self.offer = None
        self.rated.add(offer.session)
        self.feed.touch()
        return True

    def to_json(self) -> dict[str, Any] | None:
        offer = self.offer
        if offer is None:
            return None
        return {
            "session": offer.session,
            "engineer": {"name": offer.engineer.name, "id": offer.engineer.id},
            "reason": offer.reason,
            "max_comment": MAX_FEEDBACK_COMMENT,
        }
