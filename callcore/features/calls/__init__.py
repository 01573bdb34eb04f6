"""A citizen's call, followed and kept.

- `tracker.py`    the call record from ordered AMI events, keyed by Linkedid;
- `reconcile.py`  after any outage: the calls missed, from queue_log and live channels;
- `present.py`    how a call is shown (JSON for the API, tables for the CLI);
- `api.py`        `/api/v1/calls`; `cli.py` `callcore calls`.
"""
