"""Spectrogram images (matplotlib, Agg backend) for validation samples, demos and docs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from audiogen.config import MelConfig


def save_mel_png(
    path: str | Path,
    log_mel: torch.Tensor | list[torch.Tensor],
    config: MelConfig,
    title: str | list[str] | None = None,
) -> Path:
    """Write one or more log-mel spectrograms as a PNG, stacked vertically with a shared colour scale.

    Args:
        path: output ``.png`` file; parent folders are created.
        log_mel: natural-log mel ``(n_mels, frames)``, or a list of them (e.g. input beside output).
        config: the front-end settings, for the time (seconds) and frequency (Hz) axes.
        title: one title, or one per spectrogram.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: if a spectrogram is not 2-D or the number of titles does not match.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mels = log_mel if isinstance(log_mel, (list, tuple)) else [log_mel]
    titles = title if isinstance(title, (list, tuple)) else [title] * len(mels)
    if len(titles) != len(mels):
        raise ValueError(f"{len(titles)} titles for {len(mels)} spectrograms")
    arrays = []
    for m in mels:
        if m.dim() != 2:
            raise ValueError(f"expected a log-mel of shape (n_mels, frames), got {tuple(m.shape)}")
        arrays.append(m.detach().float().cpu().numpy() * (20 / 2.302585092994046))  # natural log → dB
    vmax = max(a.max() for a in arrays)
    vmin = max(min(a.min() for a in arrays), vmax - 100.0)
    fig, axes = plt.subplots(len(arrays), 1, figsize=(10, 3 * len(arrays)), squeeze=False)
    for ax, arr, ttl in zip(axes[:, 0], arrays, titles, strict=True):
        seconds = arr.shape[1] * config.hop_length / config.sample_rate
        im = ax.imshow(
            arr, origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap="magma",
            extent=(0.0, seconds, 0, config.n_mels),
        )
        ax.set_xlabel("time (s)")
        ax.set_ylabel("mel band")
        if ttl:
            ax.set_title(ttl)
        fig.colorbar(im, ax=ax, label="dB")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
