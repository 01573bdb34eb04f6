"""The 12366 sub-centre: its own call records flowing into 12345.

- `records.py`  the sub-centre's call records in the store;
- `api.py`      the endpoint the sub-centre posts to.
"""
