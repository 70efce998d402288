"""Tickets (help request → queue → session → end) and the actions run inside a session."""
