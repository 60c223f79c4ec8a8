"""The coach's voice: each feedback said aloud through espeak-ng without holding up the video.

Flow: ``LiveRun`` -> ``Speaker.say(text, t)`` (enqueues and returns) -> one background thread ->
``espeak-ng`` (a subprocess; the text is one argument after ``--``, never through a shell) ->
the audio device (mode ``audio``), or ``<out>/speech/<index:04d>_<time>s.wav`` (mode ``wav``),
where ``index`` numbers the ``say`` calls (a dropped line leaves a gap) and ``time`` is the
feedback's stream time. Every line spoken or written is also one JSON line of
``<out>/speech/speech.jsonl`` (index, time, text, file; file null when played).

Where the speech goes (``mode="auto"``): ``audio`` when an audio output exists, that is a
PulseAudio or PipeWire server (``$PULSE_SERVER``, ``$XDG_RUNTIME_DIR/pulse/native`` or
``$XDG_RUNTIME_DIR/pipewire-0``) or an ALSA playback device (``/dev/snd/pcmC*D*p``); otherwise
``wav``. espeak-ng exits 0 even when it cannot open the device, so a playback whose exit status
is non-zero or whose stderr says "error" switches the speaker to ``wav`` from that line on.
``mode="wav"`` forces WAV files, ``mode="audio"`` forces playback.

Policy when the coach talks faster than speech: one line is spoken at a time and at most one
waits. A newer line replaces a waiting one, which is dropped and counted: the voice never lags
the video by more than one line, and a correction is not said after the moment has passed.
``close()`` waits (at most ``drain_seconds``) for the waiting line, then stops.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any, Literal

SPEECH_DIR = "speech"
INDEX_FILE = "speech.jsonl"
DEBIAN_PACKAGE = "espeak-ng"

Mode = Literal["auto", "audio", "wav"]


class SpeechError(RuntimeError):
    """Speech cannot work here (espeak-ng missing); the message says what to install."""


def audio_output_exists() -> bool:
    """Whether a sound server socket or an ALSA playback device exists (the rule above)."""
    if os.environ.get("PULSE_SERVER"):
        return True
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and any((Path(runtime) / p).exists() for p in ("pulse/native", "pipewire-0")):
        return True
    return bool(glob.glob("/dev/snd/pcmC*D*p"))


def find_espeak(binary: str = "espeak-ng") -> str:
    """The espeak-ng executable's path, or a ``SpeechError`` naming the Debian package."""
    path = shutil.which(binary)
    if path is None:
        raise SpeechError(
            f"{binary} is not installed: speech needs the Debian package {DEBIAN_PACKAGE} "
            f"(apt-get install {DEBIAN_PACKAGE})"
        )
    return path


class Speaker:
    """Says feedback lines in a background thread (see the module docstring)."""

    def __init__(
        self,
        out: str | Path,
        mode: Mode = "auto",
        voice: str = "en-us",
        words_per_minute: int = 170,
        drain_seconds: float = 10.0,
        binary: str = "espeak-ng",
    ) -> None:
        if mode not in ("auto", "audio", "wav"):
            raise ValueError(f"unknown speech mode {mode!r}: expected auto, audio or wav")
        self.exe = find_espeak(binary)
        self.out = Path(out)
        self.dir = self.out / SPEECH_DIR
        self.mode: Literal["audio", "wav"] = (
            ("audio" if audio_output_exists() else "wav") if mode == "auto" else mode
        )
        self.voice, self.words_per_minute = voice, words_per_minute
        self.drain_seconds = drain_seconds
        self.note = ""  # why the mode changed, or the last espeak-ng failure
        self.said = self.dropped = self.failed = 0
        self.files: list[str] = []  # written WAVs, relative to ``out``
        self._cv = threading.Condition()
        self._waiting: tuple[int, float, str] | None = None  # (index, time, text)
        self._busy = False  # the worker is running espeak-ng
        self._closing = False
        self._cancelled = False  # close() gave up waiting: start no more espeak-ng
        self._next_index = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[str] | None = None
        self._thread = threading.Thread(target=self._work, name="livefit-speech", daemon=True)
        self._thread.start()

    # -- public -------------------------------------------------------------------------------
    def say(self, text: str, t: float) -> None:
        """Queue ``text`` (said at stream time ``t``); replaces a line still waiting."""
        with self._cv:
            if self._closing:
                raise RuntimeError("say on a closed Speaker")
            if self._waiting is not None:
                self.dropped += 1
            self._waiting = (self._next_index, t, text)
            self._next_index += 1
            self._cv.notify()

    def close(self) -> dict[str, Any]:
        """Let the waiting line be said (at most ``drain_seconds``), stop, and summarise."""
        deadline = time.monotonic() + self.drain_seconds
        with self._cv:
            self._closing = True
            self._cv.notify_all()
            while self._waiting is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            if self._waiting is not None:  # not drained in time
                self._waiting = None
                self.dropped += 1
            self._cancelled = True
            proc = self._proc if self._busy else None
        if proc is not None and proc.poll() is None:  # cut off the line being said
            proc.kill()
        self._thread.join(timeout=5.0)
        if self._log is not None:
            self._log.close()
        return self.summary()

    def summary(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "said": self.said,
            "dropped": self.dropped,
            "failed": self.failed,
            "files": list(self.files),
            "index": f"{SPEECH_DIR}/{INDEX_FILE}" if self._log is not None else None,
            "note": self.note,
        }

    # -- the worker thread --------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cv:
                while self._waiting is None and not self._closing:
                    self._cv.wait()
                if self._waiting is None:  # closing, nothing left to say
                    return
                line, self._waiting = self._waiting, None
                self._busy = True
            try:
                self._speak(*line)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def _speak(self, index: int, t: float, text: str) -> None:
        """Play ``text`` or write its WAV; log it."""
        t = round(t, 3)  # once: the file name and the log must agree (44.4749 vs 44.475)
        file: str | None = None
        ok = False
        if self.mode == "audio":
            ok, err = self._espeak(text)
            if not ok and not self._cancelled:
                self.mode, self.note = "wav", f"no audio output, WAVs from line {index} ({err})"
        if self.mode == "wav":
            self.dir.mkdir(parents=True, exist_ok=True)
            name = f"{index:04d}_{t:.2f}s.wav"
            part = self.dir / f".{name}.part"  # renamed when complete
            ok, err = self._espeak(text, part)
            if ok:
                os.replace(part, self.dir / name)
                file = f"{SPEECH_DIR}/{name}"
                self.files.append(file)
            else:
                part.unlink(missing_ok=True)
                self.note = err
        if not ok:
            with self._cv:  # a line cut off by close() counts as dropped, not failed
                if self._cancelled:
                    self.dropped += 1
                else:
                    self.failed += 1
            return
        self.said += 1
        self._write_log({"index": index, "time": t, "text": text, "file": file})

    def _espeak(self, text: str, wav: Path | None = None) -> tuple[bool, str]:
        """Run espeak-ng once; (succeeded, stderr's last line)."""
        args = [self.exe, "-v", self.voice, "-s", str(self.words_per_minute)]
        args += ["-w", str(wav)] if wav is not None else []
        with self._cv:
            if self._cancelled:
                return False, "cut off by close()"
            self._proc = subprocess.Popen(
                [*args, "--", text], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        _, stderr = self._proc.communicate()
        err = stderr.decode("utf-8", "replace").strip()
        last = err.splitlines()[-1] if err else ""
        if self._proc.returncode != 0:
            return False, last or f"espeak-ng exited with status {self._proc.returncode}"
        if wav is None and "error" in err.lower():  # no device: espeak-ng still exits 0
            return False, last
        if wav is not None and (not wav.is_file() or wav.stat().st_size <= 44):
            return False, last or "espeak-ng wrote no audio"
        return True, ""

    def _write_log(self, record: dict[str, Any]) -> None:
        if self._log is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._log = open(self.dir / INDEX_FILE, "w", encoding="utf-8")  # noqa: SIM115
        self._log.write(json.dumps(record) + "\n")
        self._log.flush()


__all__ = [
    "INDEX_FILE",
    "SPEECH_DIR",
    "Speaker",
    "SpeechError",
    "audio_output_exists",
    "find_espeak",
]
