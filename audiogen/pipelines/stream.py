"""Streaming: latent frames from the sequence model → chunked decoder → chunked vocoder → audio.

:func:`stream_audio` is what ``AudioGenPipeline.stream`` and ``audiogen stream`` run. Each stage
works chunk by chunk with a fixed look-ahead and keeps a bounded amount of state, so audio comes out
while generation continues and memory does not grow with the length of the stream:

* the sequence model (:func:`~audiogen.pipelines.stream_latent.latent_stream`) keeps its KV cache
  within the bounded context;
* :class:`StreamingDecoder` decodes each chunk of latent frames with ``decoder_context`` frames of
  context on each side (the decoder's reach) and keeps the middle, exactly as
  :func:`audiogen.pipelines.windows.decode_chunked` does offline: the mel equals one-piece decoding
  up to float rounding (``tests/pipelines/test_stream.py``);
* :class:`StreamingVocoder` renders overlapping chunks of mel with context on each side and joins
  them by a crossfade, the algorithm of :func:`audiogen.pipelines.windows.vocode_chunked` run as the
  mel arrives. With the bundled Griffin-Lim vocoder each chunk starts its phase iterations from the
  previous chunk's phase on the frames they share and holds it on the frames the previous chunk has
  rendered (RTISI-LA), so the chunks agree where they overlap and there is no seam; Griffin-Lim
  couples every frame of what it renders, so a chunked rendering cannot equal a one-piece one, but
  it equals the offline chunked rendering sample for sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from audiogen.errors import InputError
from audiogen.pipelines.sampling import SamplingConfig
from audiogen.pipelines.stream_latent import StyleSchedule, latent_stream, parse_schedule

#: Latent frames per decoder chunk in a running stream (5.9 s at 21.5 latent frames per second;
#: with ``decoder_context`` frames each side, longer chunks spend less on context).
STREAM_DECODER_CHUNK = 128
#: Latent frames of the first decoder chunk (then doubling up to :data:`STREAM_DECODER_CHUNK`):
#: 16 give the 64 mel frames the first vocoder chunk needs with its look-ahead.
STREAM_DECODER_FIRST = 16
#: Mel frames per vocoder chunk in a running stream (3 s at 22050 Hz, hop 256).
STREAM_VOCODER_CHUNK = 256
#: Mel frames of the first vocoder chunk (then doubling up to :data:`STREAM_VOCODER_CHUNK`).
STREAM_VOCODER_FIRST = 32
#: Mel frames of context each side of a streamed vocoder chunk.
STREAM_VOCODER_CONTEXT = 16
#: Mel frames of crossfade between streamed vocoder chunks.
STREAM_VOCODER_FADE = 16


class StreamingDecoder:
    """The VAE decoder, chunk by chunk: latent frames in, the mel frames they fix out.

    Args:
        autoencoder: the mel VAE (``decode``, ``time_downsample``).
        context: latent frames of context each side (``AudioGenPipeline.decoder_context``).
        chunk: latent frames decoded per call once the stream runs.
        first_chunk: latent frames of the first call; each later one doubles up to ``chunk`` (the
            first audio comes sooner; the later, longer chunks spend less on their context).
    """

    def __init__(
        self,
        autoencoder: Any,
        context: int,
        chunk: int = STREAM_DECODER_CHUNK,
        first_chunk: int | None = None,
    ) -> None:
        self.autoencoder, self.context, self.chunk = autoencoder, context, chunk
        self.size = min(chunk, first_chunk or chunk)
        self.td = autoencoder.time_downsample
        self.buffer: torch.Tensor | None = None  # latent frames [offset, offset + n)
        self.offset = 0  # absolute index of the buffer's first frame
        self.done = 0  # latent frames whose mel has been given out

    def _decode(self, stop: int, end: bool) -> torch.Tensor:
        assert self.buffer is not None
        total = self.offset + self.buffer.shape[-1]
        lo, hi = max(0, self.done - self.context), total if end else min(total, stop + self.context)
        mel = self.autoencoder.decode(self.buffer[..., lo - self.offset : hi - self.offset])
        out = mel[..., (self.done - lo) * self.td : (stop - lo) * self.td].float()
        self.done = stop
        keep = max(0, self.done - self.context) - self.offset  # drop what no later chunk reads
        self.buffer, self.offset = self.buffer[..., keep:], self.offset + keep
        return out

    @torch.no_grad()
    def push(self, latent: torch.Tensor) -> list[torch.Tensor]:
        """Add ``latent (1, latent_dim, frames)``; the mel chunks ``(1, n_mels, chunk * td)`` now fixed."""
        self.buffer = latent if self.buffer is None else torch.cat([self.buffer, latent], dim=-1)
        return list(self._ready())

    def _ready(self) -> Iterator[torch.Tensor]:
        """The mel chunks whose look-ahead has arrived (each chunk doubles, up to ``chunk``)."""
        while self.offset + self.buffer.shape[-1] >= self.done + self.size + self.context:
            yield self._decode(self.done + self.size, end=False)
            self.size = min(self.chunk, 2 * self.size)

    @torch.no_grad()
    def finish(self) -> list[torch.Tensor]:
        """The mel of the frames still held (the stream's end: no more context to the right)."""
        if self.buffer is None or self.offset + self.buffer.shape[-1] <= self.done:
            return []
        return [self._decode(self.offset + self.buffer.shape[-1], end=True)]


@dataclass
class _Rendered:
    index: torch.Tensor  # absolute mel frame indices of a rendered chunk
    spectrum: torch.Tensor  # its Griffin-Lim spectrum (batch, n_freqs, frames)
    played: tuple[int, int]  # absolute mel frames [lo, hi) whose waveform it rendered (crossfades included)


@dataclass
class StreamingVocoder:
    """The vocoder, chunk by chunk: mel frames in, waveform samples out (see the module docstring).

    Attributes:
        vocoder: the vocoder (``forward(mel)``; with ``analyse(mel, init=...)`` the chunks share
            their Griffin-Lim phase).
        hop_length: samples per mel frame.
        chunk, context, fade: mel frames per chunk, of context each side and of crossfade.
        first_chunk: mel frames of the first chunk; each later one doubles up to ``chunk``.
    """

    vocoder: Any
    hop_length: int
    chunk: int = STREAM_VOCODER_CHUNK
    context: int = STREAM_VOCODER_CONTEXT
    fade: int = STREAM_VOCODER_FADE
    first_chunk: int | None = None
    mel: torch.Tensor | None = None
    offset: int = 0  # absolute index of self.mel's first frame
    start: int = 0  # first mel frame of the next chunk
    count: int = 0  # chunks rendered
    tail: torch.Tensor | None = None  # samples of the last chunk still to be crossfaded
    previous: _Rendered | None = None
    gains: tuple[torch.Tensor, torch.Tensor] = field(init=False)

    def __post_init__(self) -> None:
        self.size = min(self.chunk, self.first_chunk or self.chunk)
        n = self.fade * self.hop_length
        self.coherent = callable(getattr(self.vocoder, "analyse", None))
        if self.coherent:
            fade_in = (torch.arange(n, dtype=torch.float32) + 0.5) / n
            self.gains = (1 - fade_in, fade_in)
        else:  # independent phases: equal power
            u = (torch.arange(n, dtype=torch.float32) + 0.5) / n
            self.gains = (torch.cos(0.5 * math.pi * u), torch.sin(0.5 * math.pi * u))

    def _render(self, stop: int, last: bool) -> torch.Tensor:
        assert self.mel is not None
        hop, half, j = self.hop_length, self.fade // 2, self.count
        total = self.offset + self.mel.shape[-1]
        start = self.start
        lo, hi = (start - half if j > 0 else 0), (total if last else stop + half)
        clo, chi = max(0, lo - self.context), (total if last else hi + self.context)
        part = self.mel[..., clo - self.offset : chi - self.offset]
        index = torch.arange(clo, chi)
        if self.coherent:
            init = hold = None
            if self.previous is not None:
                match = (index[:, None] == self.previous.index[None, :]).nonzero()
                spectrum = self.previous.spectrum
                init = torch.zeros(*spectrum.shape[:2], len(index), dtype=spectrum.dtype, device=part.device)
                init[..., match[:, 0].to(part.device)] = spectrum[..., match[:, 1].to(part.device)]
                played_lo, played_hi = self.previous.played
                hold = (index >= played_lo) & (index < played_hi)
            result = self.vocoder.analyse(part, init=init, hold=hold)
            wav = result.waveform.float()
            self.previous = _Rendered(index, result.gl_spectrum, (lo, hi))
        else:
            wav = self.vocoder(part).float()
        piece = wav[0, :, (lo - clo) * hop : (hi - clo) * hop].cpu().clone()
        fade_out, fade_in = self.gains
        n = self.fade * hop
        if j > 0:  # the end of a stream may come within the crossfade: crop it there
            assert self.tail is not None
            m = min(n, piece.shape[-1])
            piece[:, :m] = piece[:, :m] * fade_in[:m] + self.tail[:, :m]
        if not last:
            self.tail = piece[:, -n:] * fade_out
            piece = piece[:, :-n]
        self.count += 1
        self.start, self.size = stop, min(self.chunk, 2 * self.size)
        keep = max(0, stop - half - self.context) - self.offset
        self.mel, self.offset = self.mel[..., keep:], self.offset + keep
        return piece

    @torch.no_grad()
    def push(self, mel: torch.Tensor) -> list[torch.Tensor]:
        """Add ``mel (1, n_mels, frames)``; the waveform pieces ``(channels, samples)`` now final."""
        self.mel = mel if self.mel is None else torch.cat([self.mel, mel], dim=-1)
        out = []
        while True:
            stop = self.start + self.size
            if self.offset + self.mel.shape[-1] < stop + self.fade // 2 + self.context:
                return out
            out.append(self._render(stop, last=False))

    @torch.no_grad()
    def finish(self) -> list[torch.Tensor]:
        """The rest of the waveform (the stream's end), if any mel frames are left to render."""
        if self.mel is None or self.offset + self.mel.shape[-1] <= self.start:
            return [self.tail] if self.tail is not None and self.count else []
        return [self._render(self.offset + self.mel.shape[-1], last=True)]


@dataclass(frozen=True)
class StreamSettings:
    """What a stream is asked for.

    Attributes:
        style: a style name or a schedule ``"organ@0,strings@90"`` (``None``: no style).
        seconds: length of the stream (``None``: endless).
        seed: seed of every random draw.
        cfg_scale: guidance of the flow head towards the style (1: none).
        head_steps: Euler steps of the flow head (``None``: the model's).
        fade_seconds: crossfade of the style embedding at each change of the schedule.
        head_temperature: scale of the flow head's starting noise (``None``: the model's).
        stats_guard: strength of the latent statistics guard in ``[0, 1]`` (``None``: the model's;
            :class:`~audiogen.pipelines.stream_latent.StatsGuard`).
    """

    style: str | None = None
    seconds: float | None = None
    seed: int = 0
    cfg_scale: float = 1.0
    head_steps: int | None = None
    fade_seconds: float = 4.0
    head_temperature: float | None = None
    stats_guard: float | None = None


def prompt_latent(pipe: Any, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Latent ``(1, latent_dim, latent_frames)`` of ``waveform (channels, samples)`` mixed to mono."""
    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.audio.resample import resample
    from audiogen.pipelines.windows import encode_chunked

    mono = waveform.float().mean(0, keepdim=True)
    if sample_rate != pipe.sample_rate:
        mono = resample(mono, sample_rate, pipe.sample_rate)
    mel = LogMelSpectrogram(pipe.mel_config).to(pipe.device)(mono.to(pipe.device)).mel
    with torch.no_grad():
        return encode_chunked(pipe, mel)


def stream_audio(
    pipe: Any,
    model: Any,
    settings: StreamSettings,
    prompt: torch.Tensor | None = None,
    schedule: StyleSchedule | None = None,
) -> Iterator[torch.Tensor]:
    """Waveform chunks ``(channels, samples)`` of a stream, in order, as they are ready.

    Args:
        pipe: an :class:`~audiogen.pipelines.audiogen.AudioGenPipeline` (its VAE decoder and vocoder).
        model: the :class:`~audiogen.models.sequence.LatentSequenceModel`.
        settings: :class:`StreamSettings`.
        prompt: latent ``(1, latent_dim, frames)`` to continue from (:func:`prompt_latent`).
        schedule: the parsed style schedule (default: parsed from ``settings.style``).

    Raises:
        ValueError: an unknown style or bad schedule (before any audio), or a model whose latent
            does not fit the pipeline's autoencoder.
    """
    if model.config.latent_dim != pipe.autoencoder.latent_dim:
        raise ValueError(
            f"the sequence model's latent_dim {model.config.latent_dim} differs from the autoencoder's "
            f"{pipe.autoencoder.latent_dim}"
        )
    labels = list(model.config.class_labels or [])
    if schedule is None:
        schedule = parse_schedule(settings.style, labels, settings.fade_seconds)
    frame_rate = pipe.sample_rate / pipe.hop_length / pipe.time_downsample
    tokens = latent_stream(
        model,
        schedule,
        settings.seed,
        settings.cfg_scale,
        settings.head_steps,
        prompt,
        frame_rate,
        settings.head_temperature,
        settings.stats_guard,
    )
    decoder = StreamingDecoder(pipe.autoencoder, pipe.decoder_context, first_chunk=STREAM_DECODER_FIRST)
    vocoder = StreamingVocoder(pipe.vocoder, pipe.hop_length, first_chunk=STREAM_VOCODER_FIRST)
    total = None if settings.seconds is None else round(settings.seconds * pipe.sample_rate)
    needed = None if total is None else math.ceil(total / pipe.samples_per_latent_frame)
    given, frames = 0, 0
    for latent in tokens:
        frames += latent.shape[-1]
        end = needed is not None and frames >= needed
        mels = decoder.push(latent) + (decoder.finish() if end else [])
        pieces = [p for m in mels for p in vocoder.push(m)] + (vocoder.finish() if end else [])
        for piece in pieces:
            if total is not None:
                piece = piece[:, : total - given]
            if piece.shape[-1]:
                given += piece.shape[-1]
                yield piece
        if end:
            return


def load_sequence_model(source: Any = None, device: Any = "cpu") -> Any:
    """The sequence model at ``source``: a model, checkpoint, run or pipeline folder (with ``sequence/``).

    ``None``: the bundled default pipeline's ``sequence/``.

    Raises:
        FileNotFoundError: no sequence model there (says how to get one).
        ValueError: as :func:`audiogen.hub.load_model`.
    """
    from audiogen import hub

    folder = hub.DEFAULT_PIPELINE if source is None else source
    try:
        return hub.load_model(folder, "sequence", device)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"{e}; train one with `audiogen train sequence recipes/sequence.yaml` and pass its run "
            "folder (--sequence RUN on the command line)"
        ) from None


def stream(
    pipe: Any,
    seconds: float | None = None,
    *,
    sampling: SamplingConfig | None = None,
    prompt: Any = None,
    sequence: Any = None,
    head_steps: int | None = None,
    fade_seconds: float = 4.0,
    head_temperature: float | None = None,
    stats_guard: float | None = None,
    **settings: Any,
) -> Iterator[torch.Tensor]:
    """Check the arguments and load what is needed now; return the iterator of waveform chunks.

    Args:
        pipe: the :class:`~audiogen.pipelines.audiogen.AudioGenPipeline` (decoder and vocoder).
        seconds: length (``None``: endless).
        sampling: the :class:`~audiogen.pipelines.sampling.SamplingConfig` (``settings``: its
            fields, replacing ``sampling``'s). Used: ``seed`` (of every random draw: the same seed
            and settings give the same audio), ``style`` (a style or a schedule
            ``"organ@0,strings@90"``; ``None``: no style), ``cfg_scale`` (guidance of the flow head
            towards the style; ``None``: 1, none) and ``steps`` (the flow head's Euler steps when
            ``head_steps`` is not given). The sampler is the flow head's own.
        prompt: audio to continue from: a file path, or ``(waveform (channels, samples), sample_rate)``.
        sequence: a :class:`~audiogen.models.sequence.LatentSequenceModel`, or where to load one
            (:func:`load_sequence_model`).
        head_steps: Euler steps of the flow head (``None``: ``sampling.steps``, else the model's).
        head_temperature: scale of the flow head's starting noise (``None``: the model's
            ``head_temperature``).
        stats_guard: strength in ``[0, 1]`` of the guard that keeps the stream's latent statistics
            near the style's (:class:`~audiogen.pipelines.stream_latent.StatsGuard`; ``None``: the
            model's ``stats_guard``; 0: off).
        fade_seconds: crossfade of the style at each change of the schedule.

    Returns:
        An iterator of waveform chunks ``(channels, samples)``, float32 at ``pipe.sample_rate``.

    Raises:
        InputError: an unknown style, a bad schedule, ``seconds`` not positive, ``head_steps`` < 1,
            a seed or CFG scale out of range, a negative style, ``stats_guard`` outside ``[0, 1]``
            or asked of a model without latent statistics.
        FileNotFoundError: no sequence model or prompt file there.
        audiogen.audio.probe.AudioLoadError: a prompt that is not audio.
    """
    sampling = SamplingConfig.of(sampling, **settings).checked()
    head_steps = sampling.steps if head_steps is None else head_steps
    if seconds is not None and not (seconds > 0 and math.isfinite(seconds)):
        raise InputError(f"seconds must be a positive number, got {seconds}")
    if head_steps is not None and head_steps < 1:
        raise InputError(f"head_steps must be >= 1, got {head_steps}")
    if head_temperature is not None and not 0 < head_temperature < float("inf"):
        raise InputError(f"head_temperature must be a positive number, got {head_temperature}")
    if sampling.negative_style is not None:
        raise InputError("a stream has no negative style (its flow head guides from no style)")
    if stats_guard is not None and not 0.0 <= stats_guard <= 1.0:
        raise InputError(f"stats_guard must be in [0, 1], got {stats_guard}")
    model = sequence if isinstance(sequence, torch.nn.Module) else load_sequence_model(sequence, pipe.device)
    strength = model.config.stats_guard if stats_guard is None else stats_guard
    if strength and model.config.latents_mean is None:
        raise InputError(
            "stats_guard: this sequence model has no latent statistics (tools/sequence_stats.py adds them)"
        )
    labels = list(model.config.class_labels or [])
    try:
        schedule = parse_schedule(sampling.style, labels, fade_seconds)
    except ValueError as e:
        raise InputError(str(e)) from None
    latent = None
    if prompt is not None:
        if isinstance(prompt, tuple):
            waveform, rate = prompt
        else:
            from audiogen.audio.io import load_audio

            audio = load_audio(prompt)
            waveform, rate = audio.waveform, audio.sample_rate
        latent = prompt_latent(pipe, waveform, rate)
    cfg_scale = 1.0 if sampling.cfg_scale is None else sampling.cfg_scale
    options = StreamSettings(
        sampling.style,
        seconds,
        sampling.seed,
        cfg_scale,
        head_steps,
        fade_seconds,
        head_temperature,
        stats_guard,
    )
    return stream_audio(pipe, model.eval(), options, latent, schedule)


__all__ = [
    "StreamSettings",
    "StreamingDecoder",
    "StreamingVocoder",
    "load_sequence_model",
    "prompt_latent",
    "stream",
    "stream_audio",
]
