"""The centre's features, one folder each.

A feature keeps together its model, its service, the AMI events it subscribes to, its
FastAGI handlers, API endpoints (`api.py`), CLI commands (`cli.py`), store kinds and unit
tests; `callcore.wiring` builds each one and hands it exactly its collaborators.
Features build on each other in one direction (routing < calls < seats < transfers,
sub-centre, enterprises, work orders < first contact < live < supervisors), checked by
the import contracts in pyproject.toml.
"""
