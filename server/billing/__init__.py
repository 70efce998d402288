"""Billing hooks: the operator's BSS provisions subscriptions over a signed, idempotent API
(`provisioning`), the plan decides what a customer is entitled to (`catalogue.decide`, read by
`entitle`), and billing events leave through a transactional outbox as Standard Webhooks (`outbox`,
`delivery`), reconciled monthly (`export`)."""
