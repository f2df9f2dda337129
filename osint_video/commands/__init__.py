"""CLI command groups beyond triage/queue, one module per capability, each with `register(app)`."""
