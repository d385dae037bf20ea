"""How smoothly audio runs across given places (edit boundaries, window joints): the log-mel change.

The *mel change* between two adjacent log-mel frames is the mean over bands of ``|Δ ln mel|`` (nats;
× 8.69 = dB), as in :func:`audiogen.pipelines.loop.seam_report`. A boundary disturbs every frame whose
window covers it, so the change *at* a place is the largest adjacent-frame change over the pairs of
frames that cover it (plus the frames entering and leaving them). A boundary passes when that is
at most the 95th percentile of the same quantity over every place of the clip (its own
distribution): a joint that does not stand out from the clip's ordinary frame-to-frame change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from audiogen.config import MelConfig
from audiogen.pipelines.loop import _mel_changes


@dataclass
class BoundaryStat:
    """The mel change at one boundary.

    Attributes:
        kind: what the boundary is (``"edit"``, ``"window"``, ``"vocoder"``, ...).
        sample: its position in samples.
        seconds: its position in seconds.
        mel_change: the largest adjacent-frame mel change among the frames covering it (nats).
        clip_p95: the clip's 95th percentile of the same quantity over all its places (nats).
    """

    kind: str
    sample: int
    seconds: float
    mel_change: float
    clip_p95: float

    @property
    def ok(self) -> bool:
        """``mel_change <= clip_p95``."""
        return self.mel_change <= self.clip_p95

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (with ``ok``)."""
        return {**asdict(self), "ok": self.ok}


def boundary_report(
    waveform: torch.Tensor, mel_config: MelConfig, places: Sequence[tuple[str, int]]
) -> list[BoundaryStat]:
    """The mel change at each of ``places`` against the clip's own 95th percentile.

    Args:
        waveform: one clip, ``(samples,)``, ``(channels, samples)`` or ``(1, channels, samples)``
            (mixed to mono), at ``mel_config.sample_rate``.
        mel_config: the front end to analyse with (the model's).
        places: ``(kind, sample)`` pairs.

    Returns:
        one :class:`BoundaryStat` per place, in order.

    Raises:
        ValueError: a clip shorter than ``2 * n_fft`` samples or a place outside it.
    """
    from audiogen.audio.features import LogMelSpectrogram

    x = waveform.detach().float().cpu()
    x = x.reshape(-1, x.shape[-1]).mean(dim=0)
    total, n_fft, hop = x.shape[-1], mel_config.n_fft, mel_config.hop_length
    if total < 2 * n_fft:
        raise ValueError(f"boundary_report: a clip of {total} samples is too short (need {2 * n_fft})")
    bad = [p for _, p in places if not 0 <= p <= total]
    if bad:
        raise ValueError(f"boundary_report: places {bad} are outside the clip of {total} samples")
    with torch.no_grad():
        mel = LogMelSpectrogram(mel_config)(x[None]).mel[0]  # (n_mels, frames), frame t centred on t * hop
    changes = _mel_changes(mel)  # pair t: frames t, t + 1
    reach = math.ceil(n_fft / 2 / hop)  # frames within n_fft / 2 of a place, each side
    pairs = 2 * reach + 1
    # every place on the frame grid: the max over the `pairs` pairs around it (edge frames excluded,
    # they see the zero padding of the centred STFT)
    inner = changes[reach : changes.shape[0] - reach]
    within = inner.unfold(0, pairs, 1).amax(dim=-1)
    p95 = float(torch.quantile(within, 0.95))
    stats = []
    for kind, place in places:
        centre = place / hop
        lo = max(0, math.floor(centre) - reach)
        hi = min(changes.shape[0], math.ceil(centre) + reach + 1)
        stats.append(
            BoundaryStat(
                kind=kind,
                sample=int(place),
                seconds=place / mel_config.sample_rate,
                mel_change=float(changes[lo:hi].max()),
                clip_p95=p95,
            )
        )
    return stats


def format_report(stats: Sequence[BoundaryStat]) -> list[str]:
    """One line per boundary: kind, time, mel change, the clip's p95 and ok / over."""
    return [
        f"boundary {s.kind:<8} at {s.seconds:9.3f} s: mel change {s.mel_change:.3f} vs clip p95 "
        f"{s.clip_p95:.3f} {'ok' if s.ok else 'OVER'}"
        for s in stats
    ]
