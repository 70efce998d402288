"""The SSH gateway: engineers work sessions from stock OpenSSH clients (docs/ssh.md)."""
