"""首接负责制: a repeat caller with an open request is offered to the seat that took it.

- `index.py`  who answered each caller recently, from call records and the store.
"""
