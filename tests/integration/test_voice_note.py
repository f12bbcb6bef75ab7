"""Voice notes on real media: Mandarin speech from espeak-ng, silence and noise from sox,
a camera-like MP4 from ffmpeg, and the ALSA adapter's stop on a real subprocess."""

from __future__ import annotations

import math
import os
import re
import stat
import subprocess
import time
import wave

import pytest

from dock.interruptions.voice_note import (
    NoteLimits,
    NoteSilent,
    NoteTooShort,
    NoteUnreadable,
    check_note,
    measure_wav,
)
from hw.microphone import (
    MP4,
    WAV,
    ArecordMicrophone,
    FakeStatementRecorder,
    MicrophoneError,
    make_silence,
    speak,
)

STATEMENT = "设备电量耗尽，录像中断，现已恢复录像"


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    path = tmp_path_factory.mktemp("notes") / "spoken.wav"
    speak(STATEMENT, path)
    return path


def test_a_spoken_mandarin_note_is_kept_with_its_measure(spoken):
    measure = check_note(spoken)
    assert 3.0 < measure.duration_s < 10.0
    assert -35 < measure.rms_dbfs < -5
    assert -6 < measure.peak_dbfs <= 0
    assert 1.5 < measure.voiced_s <= measure.duration_s


def test_a_silent_note_is_refused_in_one_line(tmp_path):
    silent = tmp_path / "silent.wav"
    make_silence(silent, 3)
    with pytest.raises(NoteSilent) as refused:
        check_note(silent)
    # sox dithers its "silence" to about -90 dBFS: real files are rarely digital zero
    assert re.fullmatch(
        r"voice note has no speech \(0\.0 s voiced, -\d+ dBFS at the loudest\): "
        r"press the button and speak towards the dock",
        str(refused.value),
    )
    assert measure_wav(silent).rms_dbfs < -80


def test_digital_silence_is_named_as_such(tmp_path):
    zeros = tmp_path / "zeros.wav"
    with wave.open(str(zeros), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(bytes(2 * 16000 * 3))
    measure = measure_wav(zeros)
    assert (measure.duration_s, measure.rms_dbfs, measure.peak_dbfs) == (3.0, -math.inf, -math.inf)
    with pytest.raises(NoteSilent, match=r"\(0\.0 s voiced, digital silence\)"):
        check_note(zeros)


def test_faint_noise_is_no_speech_either(tmp_path):
    noise = tmp_path / "noise.wav"
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(noise)]
        + ["synth", "3", "whitenoise", "vol", "0.003"],
        check=True,
    )
    with pytest.raises(NoteSilent, match=r"0\.0 s voiced, -\d+ dBFS at the loudest"):
        check_note(noise)


def test_a_note_shorter_than_the_minimum_is_refused(tmp_path):
    short = tmp_path / "short.wav"
    speak(STATEMENT, short, max_s=1.2)
    with pytest.raises(NoteTooShort) as refused:
        check_note(short, NoteLimits(min_duration_s=2.0))
    assert str(refused.value) == (
        "voice note is 1.2 s long, needs at least 2 s: press the button, speak, then press again"
    )
    assert check_note(short, NoteLimits(min_duration_s=1.0)).duration_s == pytest.approx(1.2)


def test_a_file_that_is_not_a_wav_is_refused_as_unreadable(tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00not a wave at all")
    with pytest.raises(NoteUnreadable, match="record it again"):
        check_note(broken)


def test_the_fake_recorder_speaks_into_the_target_and_remembers(tmp_path):
    recorder = FakeStatementRecorder(STATEMENT)
    target = tmp_path / "note.wav"
    recorder.start(target, max_s=30)
    statement = recorder.stop()
    assert (statement.path, statement.media_type) == (target, WAV)
    assert recorder.history == [("start", target), ("stop", target)]
    assert check_note(target).voiced_s > 1.5
    with pytest.raises(MicrophoneError, match="no statement is being recorded"):
        recorder.stop()


def test_the_fake_camera_note_is_a_real_mp4_measured_on_its_sound(tmp_path):
    recorder = FakeStatementRecorder(STATEMENT, is_video=True)
    target = tmp_path / "note.mp4"
    recorder.start(target, max_s=30)
    assert recorder.stop().media_type == MP4
    assert target.read_bytes()[4:8] == b"ftyp"
    assert check_note(target).voiced_s > 1.5
    silent = FakeStatementRecorder(silent_s=3, is_video=True)
    silent.start(tmp_path / "silent.mp4", max_s=30)
    with pytest.raises(NoteSilent):
        check_note(silent.stop().path)


def test_without_arecord_the_microphone_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MicrophoneError) as failed:
        ArecordMicrophone().start(tmp_path / "n.wav", max_s=5)
    assert str(failed.value) == "arecord not found: install alsa-utils (make setup does)"


def fake_arecord(folder, spoken, *, writes: bool):
    """An `arecord` on PATH that writes a real WAV (or nothing) and waits for SIGINT."""
    script = folder / "arecord"
    body = f'cp "{spoken}" "${{@: -1}}"\n' if writes else ""
    script.write_text(
        "#!/bin/bash\n" + body + "echo 'arecord: audio open error: No such device' >&2\n"
        "trap 'exit 1' INT\nsleep 30 & wait\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_the_alsa_microphone_stops_arecord_with_sigint_and_returns_the_wav(
    tmp_path, monkeypatch, spoken
):
    fake_arecord(tmp_path, spoken, writes=True)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    microphone = ArecordMicrophone()
    target = tmp_path / "note.wav"
    microphone.start(target, max_s=20)
    time.sleep(0.3)
    started = time.monotonic()
    statement = microphone.stop()
    assert time.monotonic() - started < 20  # SIGINT ended it, not the 30 s sleep
    assert (statement.path, statement.media_type) == (target, WAV)
    assert check_note(target).voiced_s > 1.5


def test_an_alsa_microphone_that_records_nothing_says_why_in_one_line(
    tmp_path, monkeypatch, spoken
):
    fake_arecord(tmp_path, spoken, writes=False)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    microphone = ArecordMicrophone(device="hw:1,0")
    microphone.start(tmp_path / "note.wav", max_s=20)
    time.sleep(0.3)
    with pytest.raises(MicrophoneError) as failed:
        microphone.stop()
    assert str(failed.value) == (
        "microphone hw:1,0 recorded nothing (arecord: audio open error: No such device): "
        "check it is plugged in"
    )
