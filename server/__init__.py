"""RME server: relay between agents and engineers, tickets and sessions, audit log, billing hooks."""
