"""Fixtures every feature's tests share: `url` (an empty store on SQLite and PostgreSQL),
`engine` (migrated to the newest schema) and `pg_base`."""

from callcore.store.fixtures import engine, pg_base, url

__all__ = ["engine", "pg_base", "url"]
