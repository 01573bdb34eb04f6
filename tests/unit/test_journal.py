"""The durable journal: ordering, checkpoints, rotation, crash recovery, Unicode."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from callcore.store import journal as journal_mod
from callcore.store.journal import Journal, JournalLocked


def recs(n: int, start: int = 0, **extra) -> list[dict]:
    return [
        {"linkedid": f"1760000000.{i}", "as_of": float(i)} | extra for i in range(start, start + n)
    ]


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("seg-*.jsonl"))


def seqs(j: Journal) -> list[int]:
    return [e.seq for e in j.pending()]


def test_append_pending_commit_and_reopen(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        assert (j.last_seq, j.checkpoint, j.backlog) == (0, 0, 0)
        assert j.append(recs(3)) == 3
        assert j.append(recs(2, 3)) == 5
        assert j.append([]) == 5
        assert seqs(j) == [1, 2, 3, 4, 5]
        assert [e.record["linkedid"] for e in j.pending()][:2] == ["1760000000.0", "1760000000.1"]
        j.commit(3)
        assert (j.checkpoint, j.backlog, seqs(j)) == (3, 2, [4, 5])
        j.commit(2)  # never backwards
        assert j.checkpoint == 3
    with Journal(tmp_path) as j:
        assert (j.last_seq, j.checkpoint, seqs(j)) == (5, 3, [4, 5])
        j.commit(99)  # clamped to what exists
        assert (j.checkpoint, seqs(j)) == (5, [])
        assert j.append(recs(1)) == 6


def test_one_fsync_per_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(journal_mod.os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    with Journal(tmp_path) as j:
        j.append(recs(10))  # a new segment: its directory entry too
        calls.clear()
        j.append(recs(500))
        assert len(calls) == 1


def test_segments_rotate_and_applied_ones_are_deleted(tmp_path: Path) -> None:
    with Journal(tmp_path, segment_bytes=300) as j:
        for i in range(10):
            j.append(recs(2, 2 * i))
        segs = segments(tmp_path)
        assert len(segs) > 3
        assert seqs(j) == list(range(1, 21))
        j.commit(11)
        left = segments(tmp_path)
        assert len(left) < len(segs)
        firsts = [int(p.name[4:-6]) for p in left]
        assert firsts[0] <= 12 and seqs(j) == list(range(12, 21))
        j.commit(20)
        assert len(segments(tmp_path)) == 1  # the open tail stays
        assert j.append(recs(1)) == 21
    with Journal(tmp_path) as j:
        assert (j.last_seq, seqs(j)) == (21, [21])


def test_sequence_continues_after_every_segment_is_gone(tmp_path: Path) -> None:
    with Journal(tmp_path, segment_bytes=100) as j:
        j.append(recs(5))
        j.append(recs(5))
        j.commit(10)
    for p in segments(tmp_path):
        p.unlink()
    with Journal(tmp_path) as j:
        assert j.last_seq == 10 and j.append(recs(1)) == 11 and seqs(j) == [11]


def test_a_torn_last_line_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Journal(tmp_path) as j:
        j.append(recs(3))
    seg = segments(tmp_path)[-1]
    whole = seg.read_bytes()
    with open(seg, "ab") as f:  # a crash in the middle of the next batch's write
        f.write(b'{"seq": 4, "record": {"linkedid": "1760000000.3", "caller_na')
    with caplog.at_level(logging.WARNING, logger="callcore.store.journal"):
        j = Journal(tmp_path)
    assert "torn" in caplog.text
    assert seg.read_bytes() == whole  # cut back to the last whole line
    assert (j.last_seq, seqs(j)) == (3, [1, 2, 3])
    assert j.append(recs(1, 3)) == 4  # continues cleanly after the cut
    j.close()
    with Journal(tmp_path) as j:
        assert seqs(j) == [1, 2, 3, 4]


def test_a_garbled_tail_and_a_garbled_middle_never_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Journal(tmp_path) as j:
        j.append(recs(2))
        j.append(recs(2, 2))
    seg = segments(tmp_path)[-1]
    lines = seg.read_bytes().splitlines(keepends=True)
    lines[1] = b"\x00\x00\x00 not json\n"  # e.g. a block of zeros after a power cut
    seg.write_bytes(b"".join(lines) + b"\x00\x00\x00\x00\n")
    with caplog.at_level(logging.WARNING, logger="callcore.store.journal"):
        with Journal(tmp_path) as j:
            assert j.last_seq == 4
            assert seqs(j) == [1, 3, 4]
    assert "garbled" in caplog.text


def test_an_unreadable_checkpoint_means_replaying_everything(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Journal(tmp_path) as j:
        j.append(recs(4))
        j.commit(2)
    (tmp_path / "checkpoint").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="callcore.store.journal"):
        with Journal(tmp_path) as j:
            assert seqs(j) == [1, 2, 3, 4]
    assert "checkpoint" in caplog.text


def test_the_checkpoint_is_replaced_atomically(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        j.append(recs(3))
        j.commit(2)
        assert (tmp_path / "checkpoint").read_text() == '{"seq": 2}'
        assert not list(tmp_path.glob("*.tmp"))


def test_unicode_is_kept_as_utf8(tmp_path: Path) -> None:
    name = "张三 📞 \x01'\"; DROP TABLE calls;--"
    with Journal(tmp_path) as j:
        j.append(recs(1, caller_name=name, flags=["欧阳"]))
        (entry,) = j.pending()
        assert entry.record["caller_name"] == name and entry.record["flags"] == ["欧阳"]
    data = segments(tmp_path)[0].read_bytes()
    assert "张三 📞".encode() in data and b"\\u" not in data.replace(b"\\u0001", b"")


def test_a_failed_append_leaves_the_journal_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Journal(tmp_path) as j:
        j.append(recs(2))
        size = segments(tmp_path)[0].stat().st_size

        def disk_full(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(journal_mod.os, "fsync", disk_full)
        with pytest.raises(OSError):
            j.append(recs(3, 2))
        monkeypatch.undo()
        assert segments(tmp_path)[0].stat().st_size == size
        assert j.last_seq == 2
        assert j.append(recs(3, 2)) == 5
        assert seqs(j) == [1, 2, 3, 4, 5]


def test_one_writer_per_folder(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    with pytest.raises(JournalLocked):
        Journal(tmp_path)
    j.close()
    Journal(tmp_path).close()
