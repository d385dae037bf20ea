"""Vocoder heads: per-frame features → complex STFT → waveform, and the inverse STFT they share.

:class:`ISTFTHead` is Vocos' head (``vocos/heads.py::ISTFTHead``): a linear layer predicts the
log-magnitude and phase of each frame's spectrum and an inverse STFT turns them into samples.
:func:`istft_centered` (with :func:`overlap_add`) is that inverse STFT written out channels-last;
:class:`~audiogen.models.vocoder.gl_refine.GLRefineVocoder` uses it too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def overlap_add(frames: torch.Tensor, hop_length: int) -> torch.Tensor:
    """Overlap-add ``(batch, frames, frame_length)`` with hop ``hop_length`` into ``(batch, samples)``.

    ``samples = (frames - 1) * hop_length + frame_length``; frame ``t`` starts at sample
    ``t * hop_length``. When ``frame_length`` is a multiple of ``hop_length`` (the usual
    ``n_fft = 4 * hop_length``) this is ``frame_length / hop_length`` shifted additions of
    ``(batch, frames, hop_length)`` blocks, which is faster on CPU than :func:`torch.nn.functional.fold`;
    otherwise it uses ``fold``.
    """
    batch, num_frames, frame_length = frames.shape
    if frame_length % hop_length == 0:
        ratio = frame_length // hop_length
        blocks = rearrange(frames, "b t (r h) -> b t r h", h=hop_length)
        out = frames.new_zeros(batch, num_frames + ratio - 1, hop_length)
        for r in range(ratio):
            out[:, r : r + num_frames] += blocks[:, :, r]
        return rearrange(out, "b k h -> b (k h)")
    length = (num_frames - 1) * hop_length + frame_length
    folded = F.fold(
        rearrange(frames, "b t n -> b n t"),
        output_size=(1, length),
        kernel_size=(1, frame_length),
        stride=(1, hop_length),
    )
    return rearrange(folded, "b 1 1 n -> b n")


def istft_centered(spec: torch.Tensor, window: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """Inverse STFT of a channels-last complex spectrogram, ``center=True`` framing.

    Shapes: ``spec`` ``(batch, frames, n_fft // 2 + 1)`` complex → ``(batch, frames * hop_length)``
    float32 samples. Equals :func:`torch.istft` with ``window`` (``n_fft`` samples), ``center=True``
    and ``length = frames * hop_length``: inverse real FFT, windowing, overlap-add, division by the
    summed squared window, dropping the first ``n_fft // 2`` samples. Needs ``n_fft >= 4 *
    hop_length`` for a well-conditioned last hop (see :class:`VocoderConfig`).
    """
    num_frames = spec.shape[1]
    window = window.float()
    frames = torch.fft.irfft(spec, n=n_fft, dim=-1) * window
    audio = overlap_add(frames, hop_length)
    envelope = overlap_add(rearrange(window.square(), "n -> 1 1 n").expand(1, num_frames, -1), hop_length)
    start, stop = n_fft // 2, n_fft // 2 + num_frames * hop_length
    return audio[:, start:stop] / envelope[:, start:stop]


class ISTFTHead(nn.Module):
    """Vocos' iSTFT head: per-frame linear layer → log-magnitude and phase → inverse STFT.

    Shapes: ``x`` ``(batch, frames, dim)`` → waveform ``(batch, 1, frames * hop_length)``.

    The linear layer predicts ``n_fft // 2 + 1`` log-magnitudes and as many phases (radians) per
    frame; the complex spectrum is ``exp(log_mag) · (cos φ + i sin φ)`` (Vocos writes the phase as the
    unit vector ``(cos φ, sin φ)``, which needs no phase wrapping). The magnitude is clamped at
    ``exp(max_log_magnitude)``. The inverse STFT equals :func:`torch.istft` with a Hann window of
    ``n_fft`` samples, ``center=True`` and ``length = frames * hop_length`` (inverse FFT, window,
    overlap-add, division by the summed squared window, dropping the first ``n_fft // 2`` samples),
    written out so that it stays channels-last and avoids ``torch.istft``'s per-call checks; it is
    computed in float32 even under autocast. Reference: ``vocos/heads.py::ISTFTHead`` and
    ``vocos/spectral_ops.py::ISTFT``.
    """

    def __init__(self, dim: int, n_fft: int, hop_length: int, max_log_magnitude: float):
        super().__init__()
        self.n_fft, self.hop_length, self.max_log_magnitude = n_fft, hop_length, max_log_magnitude
        self.out = nn.Linear(dim, n_fft + 2)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """Complex STFT ``(batch, frames, n_fft // 2 + 1)`` (channels-last) from ``(batch, frames, dim)``."""
        log_mag, phase = self.out(x).float().chunk(2, dim=-1)
        magnitude = torch.exp(log_mag.clamp(max=self.max_log_magnitude))
        return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))

    def istft(self, spec: torch.Tensor) -> torch.Tensor:
        """Inverse STFT of ``(batch, frames, n_fft // 2 + 1)`` complex → ``(batch, frames * hop_length)``."""
        return istft_centered(spec, self.window, self.n_fft, self.hop_length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, dim)`` → ``(batch, 1, frames * hop_length)``."""
        return rearrange(self.istft(self.spectrum(x)), "b n -> b 1 n")
