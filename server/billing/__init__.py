"""Billing hooks: the operator's BSS provisions subscriptions over a signed, idempotent API
(`provisioning`), the plan decides what a customer is entitled to (`entitlement`), and billing events
leave through a transactional outbox as Standard Webhooks (`outbox`, `delivery`), reconciled monthly
(`export`)."""
