"""Work orders (工单): requests registered on the call, dispatched to the responsible units,
handled on time, followed up and closed by 12345 (the closed loop, 闭环).

- `model`: the order's fields and their validation, the lifecycle as a state machine
  (states, actions, who may take them, the history entry each adds), the errors it raises;
  pure, no I/O.
- `deadlines`: the Chinese working calendar (`chinese-calendar`, with its make-up working
  weekends), deadlines in working days or hours, and the green / yellow / red light.
- `tables`: the store's tables (orders, their units, their append-only history, the
  change counter), on `callcore.store.models.Base`; migration 0004_workorders.
- `service`: the operations on the store (register, complete, every step, merge, queries,
  the change feed, figures per unit and class), synchronous, for a thread.
- `registration`: the request (诉求) each answered call registers, with today's status
  lifecycle, kept in the `requests` table the engine writes through its journal;
- `intake`: the engine's side: register each answered call's request once, and apply
  status changes made through the API.
- `api.py` the request endpoints; `cli.py` `callcore request`.
"""
