"""The batched STFT machinery shared by :mod:`audiogen.audio.features`' front ends.

:class:`_FrontEnd` checks the inputs, builds each clip's reflect padding (packed end to end for
host-side lengths, or one padded block with a device-side gather), runs the batched FFT of every
frame and keeps track of each clip's valid frames (:func:`frames_for_lengths`); its subclasses
(:class:`~audiogen.audio.features.STFT`, :class:`~audiogen.audio.features.MelSpectrogram`,
:class:`~audiogen.audio.features.LogMelSpectrogram`) define the per-frame feature.

The frames are a strided view of the padded signal (no copy) and their one-sided DFT is the
``_fft_r2c`` call ``torch.stft(center=False)`` makes, so the numbers are those of ``torch.stft``.

Speed (CPU; measured with ``benchmarks/bench_spectral.py``, numbers in ``docs/benchmarks.md``): besides
packing, (1) with ``win_length == n_fft`` the FFT runs on unwindowed frames and the Hann window is
applied as a 3-tap filter on the spectrum, which spares a windowed copy of every frame; (2) the FFT
and everything after it (window, ``|X|``, filterbank, log) run block by block over
``chunk_frames`` frames (1024: few, large enough ops, since every op is a parallel region and those
stall when other processes compete for the cores, yet a block's spectrum, ~4 MB, is still in cache
when the window and ``|X|`` read it), so temporaries stay small and are reused instead of being
page-faulted in afresh; (3) ``|X|`` comes from separate real/imaginary planes (``torch.hypot``),
not a complex ``abs``. On the GPU all frames go through one FFT call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

from audiogen.audio.filterbank import _describe
from audiogen.audio.profiling import _section
from audiogen.config import MelConfig

__all__ = ["frames_for_lengths"]

LengthsLike = Tensor | Sequence[int] | None


# --------------------------------------------------------------------------------------------
# Frame counts
# --------------------------------------------------------------------------------------------


def _pad_amount(config: MelConfig) -> int:
    """Reflect padding on each side of a clip in samples: ``n_fft // 2`` if centred, else 0."""
    return config.n_fft // 2 if config.center else 0


def _num_frames(length: int, config: MelConfig) -> int:
    """Host-side :func:`frames_for_lengths` for one Python int."""
    padded = length + 2 * _pad_amount(config)
    return max(0, 1 + (padded - config.n_fft) // config.hop_length)


def frames_for_lengths(lengths: Tensor, config: MelConfig) -> Tensor:
    """Number of valid STFT frames for clips of ``lengths`` samples, computed on ``lengths``' device.

    ``center=True``: ``1 + (length + 2 * (n_fft // 2) - n_fft) // hop_length``, which is
    ``1 + length // hop_length`` for even ``n_fft``; ``center=False``:
    ``1 + (length - n_fft) // hop_length`` clamped at 0. These are the frame counts of
    ``librosa.stft`` for a clip of that length.

    Args:
        lengths: integer tensor of any shape, valid samples per clip.
        config: front-end settings (``n_fft``, ``hop_length``, ``center``).

    Returns:
        LongTensor of the same shape and device as ``lengths``.

    Raises:
        ValueError: if ``lengths`` is not an integer tensor.
    """
    if not isinstance(lengths, Tensor) or lengths.is_floating_point() or lengths.is_complex():
        raise ValueError(f"frames_for_lengths: lengths must be an integer tensor, got {_describe(lengths)}")
    padded = lengths.long() + 2 * _pad_amount(config)
    frames = 1 + torch.div(padded - config.n_fft, config.hop_length, rounding_mode="floor")
    return frames.clamp_min(0)


# --------------------------------------------------------------------------------------------
# Shared analysis machinery
# --------------------------------------------------------------------------------------------


def _reflect_index(index: Tensor, length: Tensor) -> Tensor:
    """Map positions relative to a clip's start onto the clip with ``np.pad(mode="reflect")`` rules.

    The reflected signal is periodic with period ``2 * (length - 1)`` (``... x2 x1 | x0 x1 .. xL-1 |
    xL-2 ...``), which is what numpy does for pads longer than the clip. ``length == 1`` maps every
    position to 0; ``length == 0`` also maps to 0 (the caller zeroes those values).

    Args:
        index: integer positions, broadcastable against ``length``.
        length: clip lengths in samples.

    Returns:
        Positions in ``[0, max(length - 1, 0)]``.
    """
    period = (2 * (length - 1)).clamp_min(1)
    folded = torch.remainder(index, period)
    folded = torch.where(folded >= length, period - folded, folded)
    return torch.where(length > 1, folded, torch.zeros_like(folded))


def _hann_from_rectangular(spec: Tensor) -> Tensor:
    """Apply a periodic Hann window in the frequency domain, up to a factor 2.

    For a real frame of even length ``N`` with DFT ``X`` (rectangular window), the DFT of the frame
    times the periodic Hann window ``0.5 - 0.5 cos(2 pi n / N)`` is
    ``0.5 X[k] - 0.25 X[k-1] - 0.25 X[k+1]``, with ``X[-1] = conj(X[1])`` and
    ``X[N/2 + 1] = conj(X[N/2 - 1])``. This returns TWICE that, ``X[k] - 0.5 (X[k-1] + X[k+1])``; the
    caller folds the 0.5 into its output scale. Exact up to float32 rounding.

    Args:
        spec: complex ``(rows, n_freqs)`` one-sided rectangular-window spectrum, ``n_freqs >= 3``.

    Returns:
        Contiguous float32 ``(2, rows, n_freqs)``: real and imaginary parts of ``2 * Hann spectrum``.
    """
    parts = rearrange(torch.view_as_real(spec), "r f two -> two r f")  # strided view
    out = torch.empty(parts.shape, dtype=parts.dtype, device=parts.device)
    # two passes over both planes at once (each pass is one parallel region on the CPU)
    neighbours = torch.add(parts[..., :-2], parts[..., 2:])
    torch.add(parts[..., 1:-1], neighbours, alpha=-0.5, out=out[..., 1:-1])
    # k = 0 and k = N/2: the two neighbours are complex conjugates, their sum is twice the real part
    out[0, :, 0] = parts[0, :, 0] - parts[0, :, 1]
    out[0, :, -1] = parts[0, :, -1] - parts[0, :, -2]
    out[1, :, 0] = parts[1, :, 0]
    out[1, :, -1] = parts[1, :, -1]
    return out


def _squared_magnitude(re: Tensor, im: Tensor) -> Tensor:
    """``re**2 + im**2`` as a new ``(rows, n_freqs)`` tensor (contiguous, vectorised)."""
    out = torch.mul(re, re)
    return out.addcmul_(im, im)


class _FrontEnd(nn.Module):
    """Base of :class:`STFT`, :class:`MelSpectrogram` and :class:`LogMelSpectrogram`: input checks,
    per-clip reflect padding, the batched STFT and the valid-frame bookkeeping.

    Speed notes (CPU): with ``win_length == n_fft`` (even) the FFT runs without a window and the Hann
    window is applied in the frequency domain (:func:`_hann_from_rectangular`), which saves a
    windowed copy of every frame; the FFT and everything after it (window, ``|X|``, filterbank, log)
    run block by block over ``chunk_frames`` frames of the framed signal, so each block's spectrum
    is still in cache when the next step reads it.

    Args:
        config: front-end settings.
        pack_lengths: use the packed layout for host-side ``lengths`` (see the module docstring).

    Attributes:
        chunk_frames: frames per block of FFT and post-FFT work on the CPU (default 1024; other
            devices process all frames at once).

    Raises:
        ValueError: if ``config`` is not a :class:`~audiogen.config.MelConfig`.
    """

    def __init__(self, config: MelConfig, pack_lengths: bool = True) -> None:
        super().__init__()
        if not isinstance(config, MelConfig):
            raise ValueError(f"{type(self).__name__}: config must be a MelConfig, got {_describe(config)}")
        self.config = config
        self.pack_lengths = pack_lengths
        self.chunk_frames = 1024  # CPU: frames per block of FFT and post-FFT work
        win_length = config.effective_win_length
        window = torch.hann_window(win_length, periodic=True, dtype=torch.float64)
        left = (config.n_fft - win_length) // 2
        window = F.pad(window, (left, config.n_fft - win_length - left))  # librosa.util.pad_center
        self.register_buffer("window", window.float(), persistent=False)
        self._freq_window = win_length == config.n_fft and config.n_fft % 2 == 0 and config.n_fft >= 4
        # the frequency-domain window yields twice the windowed spectrum (see _hann_from_rectangular)
        self._spec_scale = 0.5 if self._freq_window else 1.0

    # -- subclasses define the per-frame feature ---------------------------------------------------
    def _chunk_features(self, re: Tensor, im: Tensor, out: Tensor) -> None:
        """Write features ``(rows, dim)`` into ``out`` from the real and imaginary parts ``(rows, n_freqs)``
        of the windowed frames divided by ``self._spec_scale``."""
        raise NotImplementedError

    def _features(self, frames: Tensor) -> Tensor:
        """Per-frame features ``(signals * n_frames, dim)`` of framed signals ``(signals, n_frames, n_fft)``.

        ``frames`` is a strided view of the padded signals (:meth:`_frames`); on the CPU its FFT and
        features are computed block by block (:meth:`_blocks`), elsewhere in one go.
        """
        signals, n_frames = frames.shape[:2]
        n_freqs = self.config.n_freqs
        out = torch.empty(
            signals * n_frames, self._feature_dim(), dtype=self._feature_dtype(), device=frames.device
        )
        for start, block in self._blocks(frames):
            with _section("spectral.fft"):
                spec = self._fft(block).reshape(-1, n_freqs)  # (block rows, n_freqs)
            with _section("spectral.window"):
                if self._freq_window:
                    re, im = _hann_from_rectangular(spec)
                else:
                    re, im = torch.view_as_real(spec).unbind(-1)
            block_out = out[start : start + spec.shape[0]]
            self._chunk_features(re, im, block_out)
            self._finish(block_out)
        return out

    def _blocks(self, frames: Tensor) -> Iterator[tuple[int, Tensor]]:
        """Blocks of about ``chunk_frames`` frames of ``frames`` ``(signals, n_frames, n_fft)`` (CPU), or
        all of it (other devices), with the index of each block's first frame in the flattened order.

        A block is ``(frames, n_fft)`` (part of one signal) or ``(k, n_frames, n_fft)`` (whole signals).
        """
        signals, n_frames = frames.shape[:2]
        if frames.device.type != "cpu" or signals * n_frames <= self.chunk_frames:
            yield 0, frames
        elif n_frames >= self.chunk_frames:
            for n in range(signals):
                for start in range(0, n_frames, self.chunk_frames):
                    yield n * n_frames + start, frames[n, start : start + self.chunk_frames]
        else:
            step = self.chunk_frames // n_frames
            for n in range(0, signals, step):
                yield n * n_frames, frames[n : n + step]

    def _finish(self, features: Tensor) -> None:
        """In-place step on a block of features after :meth:`_chunk_features` (e.g. the log)."""

    def _feature_dim(self) -> int:
        raise NotImplementedError

    def _silence(self) -> float | complex:
        """Value of frames past a clip's valid count."""
        return 0.0

    def _feature_dtype(self) -> torch.dtype:
        return torch.float32

    # -- input handling ----------------------------------------------------------------------------
    def _check(self, waveform: Tensor, lengths: LengthsLike) -> tuple[Tensor, list[int] | Tensor | None]:
        """Validate inputs; return ``waveform`` and lengths as a host list, a device tensor or None."""
        name = type(self).__name__
        if not isinstance(waveform, Tensor):
            raise ValueError(f"{name}: waveform must be a torch.Tensor, got {_describe(waveform)}")
        if waveform.dim() not in (2, 3):
            raise ValueError(
                f"{name}: waveform must be (batch, samples) or (batch, channels, samples), "
                f"got {waveform.dim()} dims, shape {tuple(waveform.shape)}"
            )
        if not waveform.is_floating_point():
            raise ValueError(f"{name}: waveform must be floating point, got {waveform.dtype}")
        batch, samples = waveform.shape[0], waveform.shape[-1]
        if samples == 0:
            raise ValueError(f"{name}: waveform has 0 samples, shape {tuple(waveform.shape)}")
        if lengths is None:
            return waveform, None
        if isinstance(lengths, Tensor):
            if lengths.dim() != 1 or lengths.shape[0] != batch:
                raise ValueError(
                    f"{name}: lengths must be 1-D with one entry per clip (batch={batch}), "
                    f"got shape {tuple(lengths.shape)}"
                )
            if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
                raise ValueError(f"{name}: lengths must be an integer tensor, got {lengths.dtype}")
            if lengths.device.type != "cpu":
                # Device-resident lengths are not validated (that would need a host-device sync);
                # they are clamped to [0, samples] on the device instead.
                return waveform, lengths.long()
            values = lengths.tolist()
        else:
            try:
                values = [int(v) for v in lengths]
            except (TypeError, ValueError) as err:
                raise ValueError(f"{name}: lengths must be a tensor or a sequence of ints: {err}") from err
            if len(values) != batch:
                raise ValueError(f"{name}: lengths has {len(values)} entries but the batch has {batch} clips")
        bad = [v for v in values if not 0 <= v <= samples]
        if bad:
            raise ValueError(
                f"{name}: lengths must lie in [0, samples={samples}] (negative or longer than the "
                f"waveform), got {bad[:5]}"
            )
        return waveform, values

    # -- analysis ----------------------------------------------------------------------------------
    def _analyse(self, waveform: Tensor, lengths: LengthsLike) -> tuple[Tensor, Tensor]:
        """Features ``(batch[, channels], dim, frames)`` and valid frames ``(batch,)``."""
        waveform, lengths = self._check(waveform, lengths)
        cfg = self.config
        device = waveform.device
        batch, samples = waveform.shape[0], waveform.shape[-1]
        channels = waveform.shape[1] if waveform.dim() == 3 else None
        max_frames = _num_frames(samples, cfg)
        with torch.autocast(device_type=device.type, enabled=False):
            x = waveform.float()
            if channels is not None:
                x = rearrange(x, "b c t -> (b c) t")
            if isinstance(lengths, list) and all(v == samples for v in lengths):
                lengths = None  # full-length clips: nothing to pack or mask
            if lengths is None:
                frames = torch.full((batch,), max_frames, dtype=torch.long, device=device)
                feats = self._padded(x, None, max_frames)
            elif isinstance(lengths, list) and self.pack_lengths:
                per_row = lengths if channels is None else [v for v in lengths for _ in range(channels)]
                feats = self._packed(x, per_row, max_frames)
                frames = _host_to_device([_num_frames(v, cfg) for v in lengths], device)
            else:
                if isinstance(lengths, list):
                    lengths = _host_to_device(lengths, device)
                lengths = lengths.to(device).clamp(0, samples)
                frames = frames_for_lengths(lengths, cfg)
                rows = lengths if channels is None else repeat(lengths, "b -> (b c)", c=channels)
                feats = self._padded(x, rows, max_frames)
        if channels is not None:
            feats = rearrange(feats, "(b c) d f -> b c d f", c=channels)
        return feats, frames

    def _empty(self, rows: int, device: torch.device) -> Tensor:
        return torch.empty(rows, self._feature_dim(), 0, dtype=self._feature_dtype(), device=device)

    def _frames(self, signal: Tensor) -> Tensor:
        """Frames ``(rows, frames, n_fft)`` of ``(rows, samples)`` already padded: a strided view, no copy."""
        return signal.unfold(-1, self.config.n_fft, self.config.hop_length)

    def _fft(self, frames: Tensor) -> Tensor:
        """One-sided DFT of each frame of ``frames`` ``(..., n_fft)`` → complex ``(..., n_freqs)``.

        What ``torch.stft(center=False, onesided=True)`` computes on these frames (the same
        ``_fft_r2c`` call): without a window when the Hann window is applied in the frequency
        domain (:meth:`_features`), else the frames times the window.
        """
        if not self._freq_window:
            frames = frames.mul(self.window.to(device=frames.device, dtype=torch.float32))
        return torch.fft.rfft(frames)

    def _edge_pads(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Reflect padding of each clip at its own start and end, by a device-side gather.

        Args:
            x: ``(rows, samples)``.
            lengths: LongTensor ``(rows,)`` on ``x``'s device, in ``[0, samples]``.

        Returns:
            ``head`` and ``tail``, each ``(rows, n_fft // 2)``; zero for empty clips.
        """
        pad = _pad_amount(self.config)
        offsets = torch.arange(pad, device=x.device)
        length = lengths[:, None]
        index = torch.cat([(offsets - pad).expand(x.shape[0], pad), length + offsets], dim=1)
        values = x.gather(1, _reflect_index(index, length))
        values = values * (length > 0)
        return values[:, :pad], values[:, pad:]

    def _padded(self, x: Tensor, lengths: Tensor | None, max_frames: int) -> Tensor:
        """Analyse the batch as one padded block; mask frames past each clip's valid count.

        Args:
            x: float32 ``(rows, samples)``.
            lengths: LongTensor ``(rows,)`` on ``x``'s device, or None for full-length clips.
            max_frames: frames of a full-length clip.

        Returns:
            ``(rows, dim, max_frames)``.
        """
        rows, samples = x.shape
        if max_frames == 0:
            return self._empty(rows, x.device)
        pad = _pad_amount(self.config)
        with _section("spectral.pad"):
            if pad and lengths is None and samples > pad:
                signal = F.pad(x[:, None], (pad, pad), mode="reflect")[:, 0]
            elif pad:
                full = lengths if lengths is not None else torch.full((rows,), samples, device=x.device)
                head, tail = self._edge_pads(x, full)
                signal = F.pad(x, (pad, pad))
                signal[:, :pad] = head
                positions = full[:, None] + pad + torch.arange(pad, device=x.device)
                signal.scatter_(1, positions, tail)
            else:
                signal = x
        feats = self._features(self._frames(signal)).reshape(rows, max_frames, -1)
        with _section("spectral.unpack"):
            if lengths is not None:
                counts = frames_for_lengths(lengths, self.config)
                invalid = torch.arange(max_frames, device=x.device) >= counts[:, None]
                feats = feats.masked_fill(invalid[..., None], self._silence())
            return rearrange(feats, "n f d -> n d f").contiguous()

    def _packed(self, x: Tensor, lengths: list[int], max_frames: int) -> Tensor:
        """Analyse clips laid end to end (valid audio only) and scatter their frames back.

        The layout comes from host-side ``lengths`` only, so no value is read back from the device.
        Clip ``n`` occupies ``[start_n, start_n + length_n + 2 * pad)`` of the packed signal (its own
        reflect padding included), ``start_n`` a multiple of ``hop_length``, so its frame ``k`` is
        packed frame ``start_n / hop_length + k``. The packed signal ends with ``n_fft`` zeros: that
        last frame is exactly silent and stands in for every invalid frame.

        Args:
            x: float32 ``(rows, samples)``.
            lengths: valid samples per row (host ints, already validated).
            max_frames: frames of a full-length clip.

        Returns:
            ``(rows, dim, max_frames)``.
        """
        cfg = self.config
        rows = x.shape[0]
        if max_frames == 0:
            return self._empty(rows, x.device)
        hop, pad = cfg.hop_length, _pad_amount(cfg)
        counts = [_num_frames(v, cfg) if v > 0 else 0 for v in lengths]
        used = [(v + 2 * pad if c > 0 else 0) for v, c in zip(lengths, counts, strict=True)]
        strides = [-(-u // hop) * hop for u in used]
        gaps = [s - u for s, u in zip(strides, used, strict=True)]
        total = sum(strides)
        zero_frame = total // hop
        # Host-built gather index: packed frame of (row, frame), or the silent zero frame.
        starts = torch.tensor([0] + strides[:-1]).cumsum(0) // hop
        frame = torch.arange(max_frames)
        index = torch.where(frame < torch.tensor(counts)[:, None], starts[:, None] + frame, zero_frame)
        with _section("spectral.pad"):
            index = _host_to_device(index.flatten(), x.device)
            zeros = x.new_zeros(max(max(gaps, default=0), cfg.n_fft))
            if pad:
                head, tail = self._edge_pads(x, _host_to_device(lengths, x.device))
            parts: list[Tensor] = []
            for n, (length, count) in enumerate(zip(lengths, counts, strict=True)):
                if count == 0:
                    continue
                if pad:
                    parts += [head[n], x[n, :length], tail[n]]
                else:
                    parts.append(x[n, :length])
                if gaps[n]:
                    parts.append(zeros[: gaps[n]])
            parts.append(zeros[: cfg.n_fft])
            signal = torch.cat(parts)[None]
        feats = self._features(self._frames(signal))  # (packed frames, dim)
        with _section("spectral.unpack"):
            out = feats.index_select(0, index)  # (rows * max_frames, dim)
            return rearrange(out, "(n f) d -> n d f", n=rows).contiguous()


def _host_to_device(values: Sequence[int] | Tensor, device: torch.device) -> Tensor:
    """LongTensor from host values on ``device``, copied asynchronously (pinned) for CUDA."""
    host = values.long() if isinstance(values, Tensor) else torch.tensor(values, dtype=torch.long)
    if device.type == "cpu":
        return host
    if device.type == "cuda":
        return host.pin_memory().to(device, non_blocking=True)
    return host.to(device)
