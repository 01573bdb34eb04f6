"""Audio Asterisk plays: the merge notice of each cancelled number, and hold music.

The notice comes from the config text (spoken in Mandarin by espeak-ng) or from a
recorded file the site provides; pydub turns either into 8 kHz mono 16-bit WAV, which
Asterisk plays without transcoding surprises. Files are regenerated only when their
source changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

with warnings.catch_warnings():
    # pydub warns when ffmpeg is absent; only recorded notices in non-WAV formats need it.
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment
    from pydub.generators import Sine

from callcore.features.routing.decision import notice_sound
from config.schema import Hotline, Mode, SiteConfig

VOICE = "cmn"  # espeak-ng's Mandarin


class SoundError(RuntimeError):
    pass


def _telephony(seg: AudioSegment) -> AudioSegment:
    return seg.set_frame_rate(8000).set_channels(1).set_sample_width(2)


def _speak(text: str, wav: Path) -> None:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SoundError(
            "espeak-ng is needed to speak the merge notices (apt-get install espeak-ng), "
            "or give each cancelled number a recorded notice_audio file"
        )
    res = subprocess.run(
        [exe, "-v", VOICE, "-s", "230", "-w", str(wav), text],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if res.returncode != 0:
        raise SoundError(f"espeak-ng failed: {res.stderr.strip()}")


def make_notice(h: Hotline, folder: Path, base: Path) -> Path:
    out = folder / f"{notice_sound(h)}.wav"
    source = Path(h.notice_audio) if h.notice_audio else None
    if source is not None and not source.is_absolute():
        source = base / source
    key = hashlib.sha256(
        f"{VOICE}\n{h.notice}\n{source}\n{source.stat().st_mtime if source else ''}".encode()
    ).hexdigest()
    stamp = out.with_suffix(".sha256")
    if out.exists() and stamp.exists() and stamp.read_text() == key:
        return out
    if source is not None:
        if not source.exists():
            raise SoundError(f"{h.number}: notice_audio {source} does not exist")
        seg = AudioSegment.from_file(source)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "speech.wav"
            _speak(h.notice or "", wav)
            seg = AudioSegment.from_wav(wav)
    _telephony(seg).export(out, format="wav")
    stamp.write_text(key)
    return out


def make_spoken(name: str, text: str, folder: Path) -> Path:
    """A short Mandarin prompt (a feature-code confirmation), remade when its text changes."""
    out = folder / f"{name}.wav"
    key = hashlib.sha256(f"{VOICE}\n{text}".encode()).hexdigest()
    stamp = out.with_suffix(".sha256")
    if out.exists() and stamp.exists() and stamp.read_text() == key:
        return out
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        _speak(text, wav)
        _telephony(AudioSegment.from_wav(wav)).export(out, format="wav")
    stamp.write_text(key)
    return out


def make_hold_music(folder: Path) -> Path:
    """A soft two-tone chime: enough for a caller on hold to know the line is alive."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "chime.wav"
    if not out.exists():
        tone = Sine(523).to_audio_segment(duration=400, volume=-22)
        tone = tone.append(Sine(659).to_audio_segment(duration=400, volume=-22), crossfade=40)
        _telephony(tone + AudioSegment.silent(duration=2200)).export(out, format="wav")
    return out


def make_all(cfg: SiteConfig, folder: Path, base: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = [make_hold_music(folder / "moh")]
    for h in cfg.hotlines:
        if h.mode is Mode.CANCELLED:
            made.append(make_notice(h, folder, base))
    from callcore.features.transfers.service import prompts as transfer_prompts
    from seats.features import prompts  # the seats' feature-code confirmations

    for name, text in {**prompts(cfg), **transfer_prompts(cfg)}.items():
        made.append(make_spoken(name, text, folder))
    made.append(make_spoken("callsout-refused", cfg.callsout.refusal_notice, folder))
    rec = cfg.recordings
    if rec.enabled and rec.notice:  # "您的通话将被录音" before the queue, when a site wants it
        made.append(make_spoken("recording-notice", rec.notice, folder))
    from callcore.features.ratings.dialplan import rating_sounds  # 一次一评

    for name, text in rating_sounds(cfg.ratings).items():
        made.append(make_spoken(name, text, folder))
    return made
