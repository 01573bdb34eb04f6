"""Store fixtures shared by the unit tests: `url`, `engine`, `pg_base` (callcore.store.fixtures)."""

from callcore.store.fixtures import engine, pg_base, url

__all__ = ["engine", "pg_base", "url"]
