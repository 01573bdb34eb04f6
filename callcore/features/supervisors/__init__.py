"""Supervisors steering the floor: audited actions on seats.

- `actions.py`  pause, resume, log off, move; listen, whisper, barge (ChanSpy);
- `api.py`      the actions and the audit over HTTP; `cli.py` `callcore supervise`.
"""
