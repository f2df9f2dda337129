"""Alembic migration environment of the case store (see osint_video.store.migrate)."""
