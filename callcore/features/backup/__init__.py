"""Backups of an instance: the store, the secrets and the journal, taken while calls go on,
and their restore into a fresh home (`callcore backup`, `callcore restore`)."""
