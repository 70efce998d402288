"""RME agent: runs on the user's PC, diagnoses the connection and keeps the user's five promises."""
