"""How smoothly audio joins: a loop's seam, and given places in a clip (edit boundaries, window joints).

The *mel change* between two adjacent log-mel frames is the mean over bands of ``|Δ ln mel|``
(nats; × :data:`~audiogen.audio.levels.DB_PER_NEPER` = dB). A joint disturbs every frame whose
window covers it, so the change *at* a place is the largest adjacent-frame change over the pairs
of frames that cover it (plus the frames entering and leaving them). Two reports use it:

* :func:`seam_report`: a loop's end joined to its start (and every boundary between tiled copies),
  against the same quantity at every other place inside the loop, analysed on the same frame grid;
  and the sample step at the joint against the largest step anywhere else;
* :func:`boundary_report`: given places in a clip (``audiogen generate --report``, the edit
  commands), each against the clip's own 95th percentile: a joint passes when it does not stand
  out from the clip's ordinary frame-to-frame change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from audiogen.config import MelConfig


def _mel_changes(log_mel: torch.Tensor) -> torch.Tensor:
    """Mean-over-bands ``|Δ|`` between adjacent frames: ``(..., n_mels, frames)`` → ``(..., frames - 1)``."""
    return (log_mel[..., 1:] - log_mel[..., :-1]).abs().mean(dim=-2)


# ------------------------------------------------------------------------------------------------
# a loop's seam
# ------------------------------------------------------------------------------------------------


@dataclass
class SeamReport:
    """How smoothly a loop joins end to start (and copy to copy), from :func:`seam_report`.

    The *mel change* between two adjacent log-mel frames is the mean over bands of ``|Δ ln mel|``
    (nats; × 8.69 = dB). A joint disturbs every frame whose window covers it, so the change "at"
    a place is the largest adjacent-frame change over the ``window_pairs`` pairs of frames around
    it (the pairs in which at least one frame's window covers that place); the seam's value is
    compared with the same quantity at every other place inside the loop.

    Attributes:
        period_samples: the loop length in samples.
        joints: joints measured: the end-to-start wrap plus one per copy boundary.
        window_pairs: adjacent-frame pairs per place (``ceil(n_fft / hop_length) + 1`` or so).
        seam_mel_change: the largest, over joints, mel change at the joint (nats).
        within_mel_p95: 95th percentile of the mel change at the places inside one period whose
            frames stay inside the period (nats).
        within_mel_median: median of the same (nats).
        seam_sample_step: the largest ``|x[j] - x[j - 1]|`` over joints ``j`` (and channels).
        within_max_sample_step: the largest ``|x[t + 1] - x[t]|`` anywhere else.
    """

    period_samples: int
    joints: int
    window_pairs: int
    seam_mel_change: float
    within_mel_p95: float
    within_mel_median: float
    seam_sample_step: float
    within_max_sample_step: float

    @property
    def mel_ok(self) -> bool:
        """The mel change at the seam is at most the 95th percentile of that change inside the loop."""
        return self.seam_mel_change <= self.within_mel_p95

    @property
    def sample_ok(self) -> bool:
        """The sample step at the seam is at most the largest step inside the loop."""
        return self.seam_sample_step <= self.within_max_sample_step

    @property
    def ok(self) -> bool:
        """Both criteria hold."""
        return self.mel_ok and self.sample_ok

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (with ``mel_ok``, ``sample_ok``)."""
        return {**asdict(self), "mel_ok": self.mel_ok, "sample_ok": self.sample_ok}


def seam_report(
    waveform: torch.Tensor, mel_config: MelConfig, period_samples: int | None = None
) -> SeamReport:
    """Measure the seams of a loop: end joined to start, and every boundary between tiled copies.

    The waveform is treated as circular and mixed to mono for the log-mel (``mel_config``'s front
    end). For each joint ``j`` (sample 0, i.e. the end joined to the start, and every multiple of
    ``period_samples``) a stretch around it is analysed with frame centres half a hop either side
    of the joint; the joint's mel change is the largest adjacent-frame change among the pairs
    whose frames cover it (see :class:`SeamReport`). The same quantity at every place inside the
    first period, analysed alone with the same frame alignment (centres half a hop off the
    multiples of ``hop_length``; places whose frames reach its edges left out), gives the
    distribution the seam is compared with: a seamlessly periodic signal has joints that look like
    any other place in it, while a clip whose end does not continue into its start shows a jump
    (a click, or a sudden change of level or spectrum). The sample step at each joint is compared
    with the largest step anywhere else. Used by the loop tests and the evaluation.

    Args:
        waveform: one loop (or ``R`` copies of it): ``(samples,)``, ``(channels, samples)`` or
            ``(1, channels, samples)``.
        mel_config: front end to analyse with (the model's).
        period_samples: loop length ``L``; ``samples`` must be a multiple of it (default: all).

    Returns:
        :class:`SeamReport`.

    Raises:
        ValueError: wrong shape, ``samples`` not a multiple of ``period_samples``, or a period too
            short to hold frames away from its edges (needs ``> 3 * n_fft + 6 * hop_length``).
    """
    from audiogen.audio.features import LogMelSpectrogram

    x = waveform.detach().float().cpu()
    if x.dim() == 3 and x.shape[0] == 1:
        x = x[0]
    elif x.dim() == 1:
        x = x[None]
    if x.dim() != 2 or x.shape[-1] < 2:
        raise ValueError(
            f"seam_report: expected one waveform (samples,), (channels, samples) or (1, channels, "
            f"samples), got shape {tuple(waveform.shape)}"
        )
    total = x.shape[-1]
    period = total if period_samples is None else int(period_samples)
    if period < 1 or total % period:
        raise ValueError(f"seam_report: {total} samples is not a whole number of periods of {period}")
    n_fft, hop = mel_config.n_fft, mel_config.hop_length
    if period <= 3 * n_fft + 6 * hop:
        raise ValueError(
            f"seam_report: a period of {period} samples is too short (need > {3 * n_fft + 6 * hop})"
        )
    frontend = LogMelSpectrogram(mel_config)
    mono = x.mean(dim=0)

    # around a joint: frame t of the stretch is centred on t * hop, the joint lies at `before`,
    # half a hop after the centre of frame `k0`; frames covering it are those within n_fft / 2
    k0 = math.ceil((n_fft + 2 * hop) / hop)
    before = k0 * hop + hop // 2
    covering = [t for t in range(2 * k0 + 2) if abs(t * hop - before) < n_fft / 2]
    first, last = covering[0] - 1, covering[-1] + 1  # plus the frames entering and leaving
    window_pairs = last - first

    # inside the period the frames sit where they sit around a joint: centred half a hop off the
    # multiples of hop_length, the vocoder's own frame grid (a loop period starts on it). On that
    # grid a Griffin-Lim-based vocoder's output matches its mel closely but it fluctuates more
    # between grid points, so comparing off-grid seam frames with on-grid ones would flag seams
    # that are no different from any other place analysed the same way.
    offset = hop // 2
    with torch.no_grad():
        within_mel = frontend(mono[None, offset:period]).mel[0]
    lo = math.ceil((n_fft // 2) / hop)  # first frame whose window starts inside the period
    hi = (period - offset - n_fft // 2) // hop  # last frame whose window ends inside it
    pair_changes = _mel_changes(within_mel[:, lo : hi + 1])
    within = pair_changes.unfold(0, window_pairs, 1).amax(dim=-1)

    joints = list(range(0, total, period))
    index = torch.stack([(j + torch.arange(-before, before + 1)) % total for j in joints])
    with torch.no_grad():
        seam_mels = frontend(mono[index]).mel  # (joints, n_mels, frames)
    seam_changes = _mel_changes(seam_mels[..., first : last + 1]).amax(dim=-1)

    steps = (torch.roll(x, -1, dims=-1) - x).abs()  # steps[:, t] = |x[t + 1] - x[t]|, circular
    at_joint = torch.zeros(total, dtype=torch.bool)
    at_joint[[(j - 1) % total for j in joints]] = True
    return SeamReport(
        period_samples=period,
        joints=len(joints),
        window_pairs=window_pairs,
        seam_mel_change=float(seam_changes.max()),
        within_mel_p95=float(torch.quantile(within, 0.95)),
        within_mel_median=float(within.median()),
        seam_sample_step=float(steps[:, at_joint].max()),
        within_max_sample_step=float(steps[:, ~at_joint].max()),
    )


# ------------------------------------------------------------------------------------------------
# places in a clip
# ------------------------------------------------------------------------------------------------


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
