"""The QA desk (质检): each day's calls sampled by the site's rules, assigned to reviewers,
scored on a scorecard; a submitted score is never edited, a correction is its next version.

- model.py: the sampling rules (random share per seat and day, unsatisfied ratings, long
  calls, transfers, new seats), reviewer assignment, scoring against a scorecard (a fail
  item zeroes the total), score versions and the per-seat summaries, all pure.
- tables.py: `qa_samples` and the append-only `qa_scores` (migration 0006_quality).
- service.py: drawing a day's samples from the store (idempotent), a reviewer's queue,
  submitting and correcting scores (each audited), a seat's own scores and summaries.
- schedule.py: the engine's daily draw of the day before, in a thread.
- api.py: the reviewers' endpoints (role qa) and a seat's own scores and summary.
- cli.py: `callcore qa draw|queue|show|score|correct|summary`.
"""
