"""Render one piece with FluidSynth in each instrument to mono 16-bit FLAC, resumably.

:func:`find_renderer` locates FluidSynth and the SoundFont; :func:`render_midi` runs FluidSynth
offline on a MIDI file; :func:`trim_tail` cuts the trailing silence / reverb tail;
:func:`render_piece` does all of it for one piece (parse, MIDI per instrument, render, mix to mono,
trim, normalise the peak to -1 dBFS, write FLAC and the per-piece record).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import einops

from audiogen.audio.levels import SILENCE_DB
from audiogen.data.corpus.midi import INSTRUMENTS, hanging_notes, midi_template, score_to_midi
from audiogen.data.corpus.scores import (
    MissingDependencyError,
    Piece,
    PlayableScore,
    _fingerprint,
    _import_music21,
    playable_score,
    score_seconds,
)

#: SoundFont of the Debian package ``fluid-soundfont-gm``.
DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


_PEAK_TARGET_DB = -1.0


_FORMAT_VERSION = 2


class RenderError(RuntimeError):
    """FluidSynth failed or produced unusable audio; the message names the piece/file."""


@dataclass(frozen=True)
class Renderer:
    """How to run FluidSynth.

    Attributes:
        fluidsynth: path of the ``fluidsynth`` executable.
        soundfont: path of the General MIDI SoundFont (``.sf2``).
        sample_rate: output sample rate in Hz.
        gain: FluidSynth master gain (``-g``); the output is float and peak-normalised afterwards,
            so this only sets the headroom inside the synthesiser.
        timeout: seconds after which one FluidSynth run is killed.
    """

    fluidsynth: Path
    soundfont: Path
    sample_rate: int = 22050
    gain: float = 0.5
    timeout: float = 600.0


def find_renderer(
    fluidsynth: str | os.PathLike[str] = "fluidsynth",
    soundfont: str | os.PathLike[str] = DEFAULT_SOUNDFONT,
    sample_rate: int = 22050,
    gain: float = 0.5,
) -> Renderer:
    """Locate FluidSynth and the SoundFont.

    Args:
        fluidsynth: executable name (looked up on ``PATH``) or path.
        soundfont: path of the ``.sf2`` file.
        sample_rate: output sample rate in Hz.
        gain: FluidSynth gain.

    Returns:
        A :class:`Renderer` with absolute paths.

    Raises:
        MissingDependencyError: the executable or the SoundFont is missing; the message names the
            Debian package to install (``fluidsynth`` or ``fluid-soundfont-gm``).
        ValueError: a non-positive sample rate or gain.
    """
    if sample_rate <= 0 or gain <= 0:
        raise ValueError(f"sample_rate and gain must be positive, got {sample_rate}, {gain}")
    found = shutil.which(str(fluidsynth))
    if found is None:
        raise MissingDependencyError(
            f"FluidSynth executable {str(fluidsynth)!r} not found; install the Debian package "
            f"'fluidsynth' (sudo apt-get install fluidsynth) or pass its path"
        )
    sf2 = Path(soundfont)
    if not sf2.is_file():
        raise MissingDependencyError(
            f"SoundFont {str(sf2)!r} not found; install the Debian package 'fluid-soundfont-gm' "
            f"(sudo apt-get install fluid-soundfont-gm) or pass the path of a General MIDI .sf2 file"
        )
    return Renderer(Path(found).absolute(), sf2.absolute(), int(sample_rate), float(gain))


def render_midi(
    midi_path: str | os.PathLike[str], renderer: Renderer, max_seconds: float | None = None
) -> Any:
    """Render a MIDI file offline with FluidSynth and return the stereo waveform.

    Runs ``fluidsynth -ni -q -F <raw file> -T raw -O float -r <sample_rate> -g <gain> <soundfont>
    <midi_path>`` (reverb and chorus at FluidSynth's defaults) next to ``midi_path``. FluidSynth
    keeps rendering while any voice sounds, so a note that is never released (an organ or choir
    patch sustains for ever) would make it run without end: the raw output is watched and
    FluidSynth is stopped once it holds ``max_seconds`` of audio.

    Args:
        midi_path: the ``.mid`` file.
        renderer: FluidSynth settings.
        max_seconds: stop after this many seconds of audio; ``None`` lets FluidSynth finish.

    Returns:
        float32 tensor ``(2, samples)`` at ``renderer.sample_rate`` (at most ``max_seconds`` long).

    Raises:
        RenderError: FluidSynth exits with an error, times out (``renderer.timeout`` seconds of
            wall-clock time), or writes no audio.
    """
    import numpy as np
    import torch

    midi_path = Path(midi_path)
    raw_path = midi_path.with_suffix(".raw")
    cmd = [
        str(renderer.fluidsynth), "-ni", "-q",
        "-F", str(raw_path), "-T", "raw", "-O", "float",
        "-r", str(renderer.sample_rate), "-g", str(renderer.gain),
        str(renderer.soundfont), str(midi_path),
    ]  # fmt: skip
    frame_bytes = 2 * 4  # stereo float32
    limit = None if max_seconds is None else int(math.ceil(max_seconds * renderer.sample_rate)) * frame_bytes
    started = time.monotonic()
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        stopped = False
        while proc.poll() is None:
            if limit is not None and raw_path.is_file() and raw_path.stat().st_size >= limit:
                proc.kill()
                stopped = True
                break
            if time.monotonic() - started > renderer.timeout:
                proc.kill()
                raise RenderError(f"{midi_path}: FluidSynth did not finish within {renderer.timeout} s")
            time.sleep(0.02)
        proc.wait()
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if not stopped and proc.returncode != 0:
        raise RenderError(
            f"{midi_path}: FluidSynth failed (exit code {proc.returncode}): {stderr.strip()[-500:]}"
        )
    size = raw_path.stat().st_size if raw_path.is_file() else 0
    frames = size // frame_bytes
    if limit is not None:
        frames = min(frames, limit // frame_bytes)
    if frames == 0:
        raise RenderError(f"{midi_path}: FluidSynth wrote no audio: {stderr.strip()[-500:]}")
    data = np.fromfile(raw_path, dtype=np.float32, count=frames * 2)
    raw_path.unlink(missing_ok=True)
    interleaved = torch.from_numpy(data)
    return einops.rearrange(interleaved, "(samples channels) -> channels samples", channels=2).contiguous()


def trim_tail(
    waveform: Any,
    sample_rate: int,
    threshold_db: float = SILENCE_DB,
    fade_seconds: float = 0.05,
    max_seconds: float | None = None,
) -> Any:
    """Cut the trailing silence / reverb tail of a rendering.

    The audio is cut after the last sample whose magnitude is within ``threshold_db`` of the peak
    (e.g. -60 dB: the usual reverberation-time criterion, RT60), and at ``max_seconds`` at most;
    the last ``fade_seconds`` are faded out with a half-cosine so the cut does not click. Leading
    silence is kept (it is part of the score's timing).

    Args:
        waveform: float tensor ``(channels, samples)``.
        sample_rate: in Hz.
        threshold_db: level relative to the peak in dB (negative).
        fade_seconds: fade-out length in seconds.
        max_seconds: longest kept duration in seconds, or ``None``.

    Returns:
        ``(channels, kept_samples)`` tensor (a copy); unchanged length for an all-zero input.
    """
    import torch

    magnitude = waveform.abs().amax(dim=0)
    peak = float(magnitude.max()) if magnitude.numel() else 0.0
    if peak <= 0:
        return waveform.clone()
    above = torch.nonzero(magnitude >= peak * 10.0 ** (threshold_db / 20.0))
    end = int(above[-1]) + 1
    if max_seconds is not None:
        end = min(end, max(1, round(max_seconds * sample_rate)))
    out = waveform[:, :end].clone()
    fade = min(end, round(fade_seconds * sample_rate))
    if fade > 1:
        ramp = 0.5 * (1.0 + torch.cos(torch.linspace(0.0, math.pi, fade, dtype=out.dtype)))
        out[:, end - fade :] *= ramp
    return out


@dataclass
class RenderedFile:
    """One rendered (piece, instrument) file.

    Attributes:
        instrument: style label (key of :data:`INSTRUMENTS`).
        path: absolute path of the FLAC file.
        peak_db: peak in dBFS; rms_db: RMS level in dBFS.
        rendered: ``False`` when an existing file was kept (resume).
    """

    instrument: str
    path: str
    peak_db: float
    rms_db: float
    rendered: bool = True


@dataclass
class PieceResult:
    """Outcome of rendering one piece in every requested instrument.

    Attributes:
        piece_id: the piece; group: its split group (before duplicate merging).
        fingerprint: SHA-1 of its notes (identical scores have identical fingerprints).
        score_seconds: playing time of the score in seconds, repeats expanded (as rendered).
        repeats: ``"none"``, ``"expanded"`` or ``"stripped"`` (see :class:`PlayableScore`).
        files: the rendered files; error: why the piece failed (``None`` if it did not).
    """

    piece_id: str
    collection: str
    group: str
    fingerprint: str = ""
    score_seconds: float = 0.0
    repeats: str = ""
    files: list[RenderedFile] = field(default_factory=list)
    error: str | None = None


def _levels_db(waveform: Any) -> tuple[float, float]:
    """Peak and RMS level in dBFS of a waveform tensor."""
    peak = float(waveform.abs().max())
    rms = float(waveform.double().square().mean().sqrt())
    to_db = lambda v: 20.0 * math.log10(v) if v > 0 else -math.inf  # noqa: E731
    return to_db(peak), to_db(rms)


def _piece_record_path(out_dir: Path, piece: Piece) -> Path:
    return out_dir / "pieces" / f"{piece.file_stem}.json"


def _audio_path(out_dir: Path, piece: Piece, instrument: str) -> Path:
    return out_dir / "audio" / instrument / f"{piece.file_stem}.flac"


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def render_piece(
    piece: Piece,
    instruments: Sequence[str],
    out_dir: str | os.PathLike[str],
    renderer: Renderer,
    max_tail_seconds: float = 3.0,
    silence_db: float = SILENCE_DB,
) -> PieceResult:
    """Render one piece in each instrument to ``out_dir/audio/<instrument>/<piece_file>.flac``.

    Files that already exist at ``renderer.sample_rate`` are kept (a file at another rate is
    rendered again); when every file and the per-piece record exist, the score is not even parsed.
    Errors are caught and returned in :attr:`PieceResult.error` (with the files rendered before the
    error), never raised, so one bad score does not stop a build.

    Args:
        piece: the score.
        instruments: keys of :data:`INSTRUMENTS`.
        out_dir: corpus folder.
        renderer: FluidSynth settings (:func:`find_renderer`).
        max_tail_seconds: longest kept tail after the score's last beat, in seconds.
        silence_db: a rendering with an RMS level below this (dBFS) is an error (e.g. no notes).

    Returns:
        :class:`PieceResult`; each file is mono 16-bit FLAC at ``renderer.sample_rate``, peak -1 dBFS.
    """
    from audiogen.audio.io import convert_channels, load_audio, probe_audio, save_audio

    out_dir = Path(out_dir)
    result = PieceResult(piece.piece_id, piece.collection, piece.group)
    record_path = _piece_record_path(out_dir, piece)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else None
        levels = dict(record.get("levels", {})) if record else {}
        playable: PlayableScore | None = None
        template = None

        def prepare() -> PlayableScore:
            music21 = _import_music21()
            score = music21.converter.parse(str(piece.source))
            result.fingerprint = _fingerprint(score)
            prepared = playable_score(score)
            result.score_seconds = score_seconds(prepared.score)
            result.repeats = prepared.repeats
            return prepared

        if record is not None and record.get("version") == _FORMAT_VERSION:
            result.fingerprint = record["fingerprint"]
            result.score_seconds = float(record["score_seconds"])
            result.repeats = record["repeats"]
        else:
            playable = prepare()
        for name in instruments:
            target = _audio_path(out_dir, piece, name)
            if target.is_file() and probe_audio(target).sample_rate == renderer.sample_rate:
                if name not in levels:
                    levels[name] = list(_levels_db(load_audio(target).waveform))
                peak_db, rms_db = levels[name]
                result.files.append(RenderedFile(name, str(target), peak_db, rms_db, rendered=False))
                continue
            if playable is None:
                playable = prepare()
            if template is None:
                template = midi_template(playable)
                if hanging := hanging_notes(template):
                    raise RenderError(f"{piece.piece_id}: {hanging} note(s) in the MIDI file never end")
            tmp_root = out_dir / ".tmp"
            tmp_root.mkdir(parents=True, exist_ok=True)
            limit = result.score_seconds + max_tail_seconds
            with tempfile.TemporaryDirectory(dir=tmp_root) as tmp:
                midi_path = score_to_midi(playable, INSTRUMENTS[name], Path(tmp) / "score.mid", template)
                stereo = render_midi(midi_path, renderer, max_seconds=limit)
            waveform = trim_tail(convert_channels(stereo, 1), renderer.sample_rate, max_seconds=limit)
            peak_db, rms_db = _levels_db(waveform)
            if not rms_db >= silence_db:
                raise RenderError(
                    f"{piece.piece_id} ({name}): rendering is silent (RMS {rms_db:.1f} dBFS); "
                    f"does the score hold notes?"
                )
            waveform = waveform * 10.0 ** ((_PEAK_TARGET_DB - peak_db) / 20.0)
            rms_db += _PEAK_TARGET_DB - peak_db
            peak_db = _PEAK_TARGET_DB
            save_audio(target, waveform, renderer.sample_rate, format="FLAC", subtype="PCM_16")
            levels[name] = [peak_db, rms_db]
            result.files.append(RenderedFile(name, str(target), peak_db, rms_db))
        _write_json_atomic(
            record_path,
            {
                "version": _FORMAT_VERSION,
                "piece_id": piece.piece_id,
                "collection": piece.collection,
                "source": piece.source.name,
                "group": piece.group,
                "fingerprint": result.fingerprint,
                "score_seconds": result.score_seconds,
                "repeats": result.repeats,
                "levels": {k: [round(v, 3) for v in lv] for k, lv in levels.items()},
            },
        )
    except Exception as err:  # noqa: BLE001 - one bad score must not stop the build
        result.error = f"{type(err).__name__}: {err}"
    return result
