"""`callcore monitor`: the supervisors' live view of the floor, in a terminal.

- `view.py`  what the screen shows, as rows of text from a `Snapshot` (pure; shared by the
             full-screen app and the one-shot table);
- `app.py`   the full-screen textual app: refreshes from Redis every second, highlights,
             and keys for supervisor actions (through the API, so they are audited).

The snapshot is read straight from Redis (`callcore.features.live.snapshot`), the same read the
API makes, so `monitor --once --json` and `/api/v1/snapshot` agree.
"""
