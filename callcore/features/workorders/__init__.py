"""Requests (诉求): one per answered call, with its lifecycle.

- `registration.py`  the request each answered call registers, and its status lifecycle;
- `api.py`           the request endpoints; `cli.py` `callcore request`.
"""
