"""Where a call goes: the routing decision and the dialplan's `route` request.

- `decision.py`  `decide` (queue, priority, notice, trunk, flags) from the directory;
                 the static routes the fallback dialplan is rendered from;
- `agi.py`       the FastAGI `route` handler writing the decision onto the caller.
"""
