"""The session guard, the activity feed, the user's log and the kill switch (see `guard`)."""

from agent.session.feed import Feed, FeedEntry, UserLog
from agent.session.guard import EndSummary, Outbox, SessionGuard
from agent.session.prompts import Prompt, PromptBoard

__all__ = ["EndSummary", "Feed", "FeedEntry", "Outbox", "Prompt", "PromptBoard", "SessionGuard", "UserLog"]
