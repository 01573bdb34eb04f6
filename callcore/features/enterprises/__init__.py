"""The enterprise register (一企来): whose calls go to the enterprise zone first.

- `register.py`  the store's register (add, withdraw, list) beside the config's;
- `cli.py`       `callcore enterprise add|remove|list`.
"""
