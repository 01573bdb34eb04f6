"""Unit tests of the reports feature."""
