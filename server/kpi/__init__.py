"""Service figures (answer rate, response time, first-contact fix, session length, satisfaction)
computed from the tickets in the database, against the service standards of the brief."""

from server.kpi.figures import TARGETS, Figures, TicketFacts, compute, daily
from server.kpi.store import load_facts, service_figures

__all__ = ["TARGETS", "Figures", "TicketFacts", "compute", "daily", "load_facts", "service_figures"]
