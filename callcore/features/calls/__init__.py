"""A citizen's call, followed and kept.

- `tracker.py`    the call record from ordered AMI events, keyed by Linkedid;
- `queue_log.py`  Asterisk's queue_log read back into each call's facts;
- `rebuild.py`    facts turned into the AMI events they stand for, replayed into a tracker;
- `reconcile.py`  after any outage: the resync that ends, adopts and rebuilds the calls
                  missed, from queue_log and live channels;
- `present.py`    how a call is shown (JSON for the API, tables for the CLI);
- `api.py`        `/api/v1/calls`; `cli.py` `callcore calls`.
"""
