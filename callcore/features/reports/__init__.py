"""Reports for the managers: figures over any range, the worst 24 hours, staffing.

- model.py: the range, groupings and figures of a report and the rules that turn summed
  counters into figures (docs/figures.md, "Reports"); the sliding 24-hour window. Pure.
- queries.py: the sums, by SQL aggregation on SQLite and PostgreSQL (calls, seat_events,
  call_legs), and the optional column sources other features plug in.
- sources.py: the column sources: ratings, QA scores (current versions), callbacks.
- erlang.py: Erlang C and Erlang A (Palm), seats needed for the site's targets.
- service.py: `ReportService`: reports, and staffing per interval and zone from observed
  traffic or a same-weekday forecast, beside the seats logged in.
- export.py: xlsx (a sheet per grouping), CSV (UTF-8 with BOM), JSON.
- charts.py: PNG charts (matplotlib Agg, a CJK font).
- queuelog.py: figures from Asterisk's queue_log alone, as queue tools read it.
- cli.py: the `report` click group (show, staffing, rollups, queue-log); api.py: its
  endpoints. files.py: a report with its xlsx and charts (the demo's own report).
- rollups.py, tables.py: settled days kept in the store (migration 0009_report_rollups).
- current.py: seats needed this interval per zone, once per interval (the monitor).
"""
