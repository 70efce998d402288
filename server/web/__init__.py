"""The HTTPS API: login, accounts, customers and devices, tickets, operations endpoints."""
