"""Unit tests of the work orders (model, deadlines, config, store, service)."""
