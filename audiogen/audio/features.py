"""Batched STFT / mel-spectrogram front end that runs unchanged on CPU and CUDA.

Every stage of audiogen sees audio through this module: the VAE encodes
:class:`LogMelSpectrogram` outputs, the vocoder is trained to invert them, and
:func:`~audiogen.audio.inverse.griffin_lim` is the no-training baseline inverse.

Conventions (numerically those of ``librosa.feature.melspectrogram`` with ``pad_mode="reflect"``):

* periodic Hann window of ``win_length`` samples, zero-padded to ``n_fft`` at the centre
  (``librosa.filters.get_window`` + ``librosa.util.pad_center``);
* ``center=True`` reflect-pads ``n_fft // 2`` samples on both sides of EACH clip, at the clip's
  own end (not at the end of the zero-padded batch), so a clip analysed inside a batch gives the
  same frames as the clip alone;
* the mel filterbank is :func:`~audiogen.audio.filterbank.mel_filterbank`, equal to
  ``librosa.filters.mel`` (Slaney or HTK mel scale, Slaney area normalisation or none);
* the mel spectrogram is ``filterbank @ |STFT| ** power``; the log-mel spectrogram is the natural
  log of ``max(mel, log_floor)``.

Valid lengths: a batch of clips of different lengths is passed zero-padded to a common number of
samples together with ``lengths`` (valid samples per clip). Frames past a clip's valid frame count
(see :func:`~audiogen.audio.frontend.frames_for_lengths`) hold the silence value (0 for linear
outputs, ``ln(log_floor)`` for log-mel). Two execution paths give the same numbers:

* host-side lengths (a CPU tensor or a list, the usual case from a DataLoader): the clips are laid
  end to end, each with its own reflect padding and starting on a multiple of ``hop_length``, so a
  single STFT call analyses only valid audio (no FFTs spent on batch padding); the layout is
  computed on the host from the host-side lengths, so nothing waits on the accelerator;
* device-side lengths (e.g. a CUDA tensor): the batch is analysed as one padded block; each clip's
  reflect padding is built with a device-side gather and frames past the valid count are masked,
  with no host-device synchronisation.

In both paths the whole batch is framed once and goes through one batched FFT (on the CPU in blocks
of frames, each followed at once by its window, ``|X|``, filterbank and log), in float32 with
autocast disabled; the numbers are those of ``torch.stft``. The window and filterbank are
non-persistent buffers, so ``.to(device)`` moves them and checkpoints do not store them.

The per-clip padding, packing, the batched FFT and the valid-frame bookkeeping are shared by the
three modules here and live in :mod:`audiogen.audio.frontend`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from audiogen.audio.filterbank import mel_filterbank
from audiogen.audio.frontend import LengthsLike, _FrontEnd, _squared_magnitude, frames_for_lengths
from audiogen.audio.profiling import _section
from audiogen.config import MelConfig

__all__ = [
    "LogMelSpectrogram",
    "MelOutput",
    "MelSpectrogram",
    "STFT",
    "SpectrogramOutput",
    "frames_for_lengths",
]


# --------------------------------------------------------------------------------------------
# Typed outputs
# --------------------------------------------------------------------------------------------


@dataclass
class SpectrogramOutput:
    """Result of :class:`STFT`.

    Attributes:
        spec: ``(batch, n_freqs, frames)`` or ``(batch, channels, n_freqs, frames)``; complex64 for
            ``output="complex"``, float32 ``|X|`` for ``"magnitude"`` and ``|X|**2`` for ``"power"``.
            ``n_freqs = n_fft // 2 + 1``; frames past a clip's valid count are 0.
        frames: LongTensor ``(batch,)``, valid frames per clip, on the waveform's device.
    """

    spec: Tensor
    frames: Tensor


@dataclass
class MelOutput:
    """Result of :class:`MelSpectrogram` and :class:`LogMelSpectrogram`.

    Attributes:
        mel: float32 ``(batch, n_mels, frames)`` or ``(batch, channels, n_mels, frames)``; linear
            mel (``|X| ** power`` units) or natural-log mel. Frames past a clip's valid count hold
            the silence value: 0 (linear) or ``ln(log_floor)`` (log).
        frames: LongTensor ``(batch,)``, valid frames per clip, on the waveform's device.
    """

    mel: Tensor
    frames: Tensor


# --------------------------------------------------------------------------------------------
# Public modules
# --------------------------------------------------------------------------------------------


class STFT(_FrontEnd):
    """Batched short-time Fourier transform with per-clip valid lengths.

    Reference: ``librosa.stft`` (periodic Hann window padded to ``n_fft``, ``pad_mode="reflect"``).

    Args:
        config: front-end settings (``n_fft``, ``hop_length``, ``win_length``, ``center``).
        output: ``"complex"`` (complex64 STFT), ``"magnitude"`` (``|X|``) or ``"power"`` (``|X|**2``).
        pack_lengths: analyse host-side ``lengths`` with the packed layout (see the module
            docstring); ``False`` always uses the padded path (same numbers).

    Raises:
        ValueError: for an unknown ``output``.
    """

    def __init__(
        self,
        config: MelConfig,
        output: Literal["complex", "magnitude", "power"] = "complex",
        pack_lengths: bool = True,
    ) -> None:
        super().__init__(config, pack_lengths)
        if output not in ("complex", "magnitude", "power"):
            raise ValueError(f"STFT: output must be 'complex', 'magnitude' or 'power', got {output!r}")
        self.output = output

    def _chunk_features(self, re: Tensor, im: Tensor, out: Tensor) -> None:
        scale = self._spec_scale
        with _section("spectral.magnitude"):
            if self.output == "complex":
                torch.mul(re, scale, out=torch.view_as_real(out)[..., 0])
                torch.mul(im, scale, out=torch.view_as_real(out)[..., 1])
            elif self.output == "magnitude":
                torch.hypot(re, im, out=out).mul_(scale)
            else:
                torch.mul(_squared_magnitude(re, im), scale * scale, out=out)

    def _feature_dim(self) -> int:
        return self.config.n_freqs

    def _feature_dtype(self) -> torch.dtype:
        return torch.complex64 if self.output == "complex" else torch.float32

    def forward(self, waveform: Tensor, lengths: LengthsLike = None) -> SpectrogramOutput:
        """STFT of a batch.

        Args:
            waveform: ``(batch, samples)`` or ``(batch, channels, samples)``, any float dtype
                (analysed in float32, autocast disabled).
            lengths: valid samples per clip, LongTensor ``(batch,)`` (CPU or device) or a list of
                ints; None means every clip is ``samples`` long.

        Returns:
            :class:`SpectrogramOutput` with ``spec`` ``(batch[, channels], n_freqs, frames)`` and
            ``frames`` ``(batch,)``.

        Raises:
            ValueError: wrong number of dims, non-float waveform, zero samples, lengths of the wrong
                shape or dtype, or (host-side lengths only) lengths outside ``[0, samples]``.
        """
        spec, frames = self._analyse(waveform, lengths)
        return SpectrogramOutput(spec=spec, frames=frames)


class MelSpectrogram(_FrontEnd):
    """Linear mel spectrogram ``filterbank @ |STFT| ** power`` of a batch with valid lengths.

    Reference: ``librosa.feature.melspectrogram(..., pad_mode="reflect")``, which it matches to
    float32 precision.

    The filterbank product is one dense matmul per block of frames.

    Args:
        config: front-end settings.
        pack_lengths: analyse host-side ``lengths`` with the packed layout; ``False`` always uses
            the padded path (same numbers).
    """

    def __init__(self, config: MelConfig, pack_lengths: bool = True) -> None:
        super().__init__(config, pack_lengths)
        fb = mel_filterbank(config)  # (n_mels, n_freqs)
        self.register_buffer("filterbank", fb, persistent=False)
        # (n_freqs, n_mels), with the frequency-domain window's factor folded in
        fb_t = fb.t() * self._spec_scale**config.power
        self.register_buffer("filterbank_t", fb_t.contiguous(), persistent=False)

    def _chunk_features(self, re: Tensor, im: Tensor, out: Tensor) -> None:
        with _section("spectral.magnitude"):
            # (rows, n_freqs) |X| or |X|**2
            power = torch.hypot(re, im) if self.config.power == 1.0 else _squared_magnitude(re, im)
        fb_t = self.filterbank_t.to(device=power.device, dtype=torch.float32)
        with _section("spectral.filterbank"):
            torch.mm(power, fb_t, out=out)

    def _feature_dim(self) -> int:
        return self.config.n_mels

    def forward(self, waveform: Tensor, lengths: LengthsLike = None) -> MelOutput:
        """Linear mel spectrogram of a batch (``waveform`` and ``lengths`` as :meth:`STFT.forward`).

        Returns:
            :class:`MelOutput` with ``mel`` float32 ``(batch[, channels], n_mels, frames)`` in
            ``|X| ** power`` units (invalid frames 0) and ``frames`` ``(batch,)``.

        Raises:
            ValueError: as :meth:`STFT.forward`.
        """
        mel, frames = self._analyse(waveform, lengths)
        return MelOutput(mel=mel, frames=frames)


class LogMelSpectrogram(MelSpectrogram):
    """Log-mel spectrogram ``ln(max(mel, log_floor))`` of a batch with valid lengths.

    Frames past a clip's valid count are ``ln(log_floor)`` (silence). Reference: natural log of
    ``librosa.feature.melspectrogram(..., pad_mode="reflect")`` clamped at ``log_floor``.

    Args:
        config: front-end settings (``log_floor`` is the clamp).
        pack_lengths: as :class:`MelSpectrogram`.
    """

    def _finish(self, features: Tensor) -> None:
        with _section("spectral.log"):
            features.clamp_min_(self.config.log_floor).log_()

    def _silence(self) -> float:
        return math.log(self.config.log_floor)

    def forward(self, waveform: Tensor, lengths: LengthsLike = None) -> MelOutput:
        """Log-mel spectrogram of a batch.

        Args:
            waveform: ``(batch, samples)`` or ``(batch, channels, samples)``, any float dtype.
            lengths: as :meth:`MelSpectrogram.forward`.

        Returns:
            :class:`MelOutput` with ``mel`` float32 ``(batch[, channels], n_mels, frames)``, natural
            log (silence ``ln(log_floor)``), and ``frames`` ``(batch,)``.

        Raises:
            ValueError: as :meth:`STFT.forward`.
        """
        return super().forward(waveform, lengths)
