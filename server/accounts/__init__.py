"""Engineer accounts: password hashing, lock-out, TOTP, roles and server-side login sessions."""
