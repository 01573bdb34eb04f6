"""Work orders (工单): requests registered on the call, dispatched to the responsible units,
handled on time, followed up and closed by 12345 (the closed loop, 闭环).

- `model`: the order's fields and their validation, the lifecycle as a state machine
  (states, actions, who may take them, the history entry each adds), the errors it raises;
  pure, no I/O.
- `deadlines`: the Chinese working calendar (`chinese-calendar`, with its make-up working
  weekends), deadlines in working days or hours, and the green / yellow / red light.
- `tables`: the store's tables (orders, their units, their append-only history, the
  change counter), on `callcore.store.models.Base`; migrations 0004_workorders and
  0008_requests_into_workorders (the old `requests` table folded in).
- `service`: the operations on the store (register, complete, every step, merge, queries,
  the change feed, figures per unit and class), synchronous, for a thread.
- `intake`: the engine's side: each answered call registers its order, off the loop and
  never lost (a sweep finds what a store outage or a crash missed); changes are told to
  first contact.
- `export`: the daily JSON Lines and CSV batch with the calls (docs/workorders-export.md),
  and the audit of reads of citizens' data.
- `api.py` the 12345 and department endpoints; `cli.py` `callcore request`.
"""
