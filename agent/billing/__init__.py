"""The service catalogue as the agent knows it (事前可选) and the user's service records (事后可查)."""
