"""Transfers: a seat moves its caller to a zone, a hotline number or 12366.

- `service.py`  transfer targets and transfers by AMI (blind, attended, complete);
- `legs.py`     the transfer chain: every leg of a call under its Linkedid;
- `api.py`      transfers by API and a call's legs; `cli.py` `callcore transfer`.
"""
