"""Ratings after the call (一次一评, GB/T 39734-2020): when the seat hangs up first the caller
presses one key, mapped to one of five levels (config `ratings:`); every answered call has
a rating or is 未评价.

- model.py: the levels, how presses become a verdict (`judge`), the rating record and its
  context (the seat that served last, the transfer chain), the CCRATE queue_log fact the
  static dialplan writes and its parser, and the figures (rated share, 满意率), all pure.
- tables.py: the `ratings` table (migration 0006_quality).
- kinds.py: the `rating` store kind; importing it registers it with the store writer.
- service.py: filing ratings live or from queue_log facts, listing them, and the stored
  figures in SQL per zone, seat and number.
"""
