"""Recordings (录音): every leg a human answers, recorded by Asterisk from the answer to
the end, compressed into the recordings store after the call, kept for the site's
retention, listened to through the API by those allowed, every access audited.

- dialplan.conf.j2: `[cc-record]` (MixMonitor, two channels) and the entry points Queue(),
  Dial's U() and the supervisors' `[cc-spy]` use; `[cc-record-outbound]` for calls out.
- model.py: the spool file's name, byte ranges, retention, the store row's record; pure.
- tables.py: the `recordings` table (migration 0007_recordings); kinds.py its store kind.
- service.py: the worker thread that compresses finished files into the dated store,
  disk health, retention purges, listing and access checks.
- api.py: a call's recordings and a recording's audio (Range requests); cli.py
  `callcore recording list|get|purge`.
"""
