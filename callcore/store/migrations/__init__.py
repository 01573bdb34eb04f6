"""Alembic migrations of the request store; run them with `callcore.store.db.upgrade(url)`."""
