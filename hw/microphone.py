"""Recording the officer's spoken statement at the bay.

The officer presses the bay's button, speaks, and presses again (or `max_s` ends it). Where
the dock has a camera module the statement is video with sound, so it also shows who spoke
(picamera2: an H.264 encoder into `FfmpegOutput(..., audio=True)`, which takes the sound
through PulseAudio/ALSA); without one it is ALSA audio alone, through `arecord`. Either way
the recorder writes one file the caller named; the caller then measures it
(dock.interruptions.voice_note) and stores it as evidence like any clip.

picamera2 exists only on a Pi (the `pi` extra), so it is imported inside its adapter. The
fake makes real media from text with espeak-ng and sox, so tests handle real files.
"""

from __future__ import annotations

import math
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dock.errors import DockError

WAV = "audio/wav"
MP4 = "video/mp4"
SAMPLE_RATE = 16000
STOP_TIMEOUT_S = 5.0


class MicrophoneError(DockError):
    """The statement could not be recorded; the message says what to check."""


@dataclass(frozen=True)
class Statement:
    path: Path
    media_type: str  # WAV or MP4


class StatementRecorder(Protocol):
    media_type: str

    def start(self, target: Path, *, max_s: float) -> None: ...
    def stop(self) -> Statement: ...


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise MicrophoneError(f"{name} not found: install {package} (make setup does)")
    return found


class ArecordMicrophone:
    """ALSA audio through arecord: 16 kHz mono 16-bit WAV, ended by SIGINT or by -d max_s."""

    media_type = WAV

    def __init__(self, device: str = "default") -> None:
        self.device = device
        self._process: subprocess.Popen[bytes] | None = None
        self._target: Path | None = None
        self._errors: Any = None  # arecord's stderr: a file, so no pipe can keep stop waiting

    def start(self, target: Path, *, max_s: float) -> None:
        command = [
            _tool("arecord", "alsa-utils"),
            "-q",
            "-D",
            self.device,
            "-f",
            "S16_LE",
            "-r",
            str(SAMPLE_RATE),
            "-c",
            "1",
            "-t",
            "wav",
            "-d",
            str(max(1, math.ceil(max_s))),
            str(target),
        ]
        self._target = target
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (open from start to stop)
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self._errors)

    def stop(self) -> Statement:
        process, target = self._process, self._target
        if process is None or target is None:
            raise MicrophoneError("no statement is being recorded: press the button to start")
        errors, self._process, self._target, self._errors = self._errors, None, None, None
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # arecord then finishes the WAV header
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        errors.seek(0)
        stderr = errors.read()
        errors.close()
        if not target.exists() or target.stat().st_size <= 44:
            last = stderr.decode(errors="replace").strip().splitlines()
            why = last[-1] if last else f"exit status {process.returncode}"
            raise MicrophoneError(
                f"microphone {self.device} recorded nothing ({why}): check it is plugged in"
            )
        return Statement(target, WAV)


class Picamera2Statement:
    """Video with sound from the camera module; only on a Pi with picamera2 installed."""

    media_type = MP4

    def __init__(self, *, bitrate: int = 2_000_000) -> None:
        self.bitrate = bitrate
        self._camera: Any = None
        self._target: Path | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def start(self, target: Path, *, max_s: float) -> None:
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
            from picamera2.encoders import H264Encoder  # type: ignore[import-not-found]
            from picamera2.outputs import FfmpegOutput  # type: ignore[import-not-found]
        except ImportError:
            raise MicrophoneError(
                "picamera2 is not installed: install the pi extra, or use the ALSA microphone"
            ) from None
        try:
            camera = Picamera2()
            camera.configure(camera.create_video_configuration())
            camera.start_recording(
                H264Encoder(bitrate=self.bitrate), FfmpegOutput(str(target), audio=True)
            )
        except Exception as err:  # libcamera's errors are not typed: say which step failed
            raise MicrophoneError(
                f"camera could not start recording ({type(err).__name__}: {err}): "
                "check the camera cable and that no other program uses it"
            ) from None
        self._camera, self._target = camera, target
        self._timer = threading.Timer(max_s, self._end)
        self._timer.daemon = True
        self._timer.start()

    def _end(self) -> None:
        with self._lock:
            camera, self._camera = self._camera, None
        if camera is not None:
            try:
                camera.stop_recording()
            finally:
                camera.close()

    def stop(self) -> Statement:
        target = self._target
        if target is None:
            raise MicrophoneError("no statement is being recorded: press the button to start")
        if self._timer is not None:
            self._timer.cancel()
        self._end()
        self._target = None
        if not target.exists() or target.stat().st_size == 0:
            raise MicrophoneError("camera recorded nothing: check the camera and microphone")
        return Statement(target, MP4)


class FakeStatementRecorder:
    """Speaks `text` with espeak-ng (Mandarin by default) into a real 16 kHz WAV via sox.

    `silent_s` makes a silent file of that length instead, for the refusal path; `is_video`
    makes a short MP4 (ffmpeg's test pattern with that sound), as the camera path would.
    History: ("start", target) and ("stop", target), in order.
    """

    def __init__(
        self,
        text: str = "",
        *,
        voice: str = "cmn",
        silent_s: float | None = None,
        is_video: bool = False,
    ) -> None:
        self.text = text
        self.voice = voice
        self.silent_s = silent_s
        self.is_video = is_video
        self.media_type = MP4 if is_video else WAV
        self.history: list[tuple[str, Path]] = []
        self._target: Path | None = None
        self._max_s = 0.0

    def start(self, target: Path, *, max_s: float) -> None:
        self.history.append(("start", target))
        self._target, self._max_s = target, max_s

    def stop(self) -> Statement:
        target = self._target
        if target is None:
            raise MicrophoneError("no statement is being recorded: press the button to start")
        self._target = None
        with tempfile.TemporaryDirectory(prefix="fake-note-") as tmp:
            sound = Path(tmp) / "sound.wav" if self.is_video else target
            if self.silent_s is not None:
                make_silence(sound, min(self.silent_s, self._max_s))
            else:
                speak(self.text, sound, voice=self.voice, max_s=self._max_s)
            if self.is_video:
                video_with_sound(sound, target)
        self.history.append(("stop", target))
        return Statement(target, self.media_type)


def speak(text: str, target: Path, *, voice: str = "cmn", max_s: float | None = None) -> None:
    """Text to a 16 kHz mono 16-bit WAV: espeak-ng speaks, sox resamples (and cuts at max_s)."""
    espeak, sox = _tool("espeak-ng", "espeak-ng"), _tool("sox", "sox")
    with tempfile.TemporaryDirectory(prefix="speak-") as tmp:
        spoken = Path(tmp) / "spoken.wav"
        _run([espeak, "-v", voice, "-w", str(spoken), text])
        trim = ["trim", "0", f"{max_s:g}"] if max_s is not None else []
        _run([sox, str(spoken), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(target), *trim])


def make_silence(target: Path, seconds: float) -> None:
    sox = _tool("sox", "sox")
    _run(
        [
            sox,
            "-n",
            "-r",
            str(SAMPLE_RATE),
            "-c",
            "1",
            "-b",
            "16",
            str(target),
            "trim",
            "0",
            f"{seconds:g}",
        ]
    )


def video_with_sound(sound: Path, target: Path) -> None:
    """A small MP4 of ffmpeg's test pattern carrying `sound`: what the camera path yields."""
    ffmpeg = _tool("ffmpeg", "ffmpeg")
    pattern = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10"]
    codecs = ["-c:v", "mpeg4", "-c:a", "aac", "-shortest", "-y"]
    _run([ffmpeg, "-nostdin", "-v", "error", *pattern, "-i", str(sound), *codecs, str(target)])


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        last = done.stderr.decode(errors="replace").strip().splitlines()
        raise MicrophoneError(
            f"{Path(command[0]).name} failed ({last[-1] if last else done.returncode})"
        )
