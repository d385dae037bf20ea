"""Images (matplotlib, Agg backend): spectrograms for validation samples, demos and docs, and the
metric curves of training runs (``metrics.jsonl``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from audiogen.config import MelConfig


def _pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (imported on first use: it is slow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path: str | Path) -> Path:
    """Lay out ``fig``, write it to ``path`` (parents created, 100 dpi) and close it."""
    plt = _pyplot()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


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
    plt = _pyplot()
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
    return _save_figure(fig, path)


@dataclass
class MetricCurve:
    """One logged metric of a training run, as read from its ``metrics.jsonl``.

    Attributes:
        key: the logged name, e.g. ``val/mel_l1_db`` or ``train/total``.
        steps: optimizer steps, increasing.
        values: the metric at those steps.
        source: the ``metrics.jsonl`` file it was read from.
    """

    key: str
    steps: list[int]
    values: list[float]
    source: Path


def read_metric_curve(run_dir: str | Path, key: str) -> MetricCurve:
    """Read ``key`` from a run folder's ``metrics.jsonl`` (written by the trainer).

    A resumed run logs again the steps after its checkpoint; for a step logged more than once the
    last line wins, so the curve is the one the finished run followed.

    Args:
        run_dir: a training run folder, or its ``metrics.jsonl`` itself.
        key: the logged name.

    Returns:
        The :class:`MetricCurve`, steps in increasing order.

    Raises:
        FileNotFoundError: there is no ``metrics.jsonl`` (names the path).
        ValueError: a line is not a JSON object with an integer ``step`` (names file and line), or
            no line logs ``key`` (lists the keys that are logged).
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such metrics file (a training run folder has metrics.jsonl)")
    by_step: dict[int, float] = {}
    seen: set[str] = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}, line {number}: not JSON ({e.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise ValueError(f"{path}, line {number}: expected an object with an integer 'step'")
        seen.update(k for k in record if k != "step")
        if key in record:
            by_step[record["step"]] = float(record[key])
    if not by_step:
        raise ValueError(f"{path}: {key!r} is never logged; logged keys: {sorted(seen)}")
    steps = sorted(by_step)
    return MetricCurve(key=key, steps=steps, values=[by_step[s] for s in steps], source=path)


def save_curves_png(
    path: str | Path,
    curves: list[MetricCurve],
    labels: list[str] | None = None,
    step_offsets: list[int] | None = None,
    ylabel: str | None = None,
) -> Path:
    """Plot metric curves against optimizer step, one line per curve, into a PNG.

    Args:
        path: output ``.png``; parent folders are created.
        curves: the curves (see :func:`read_metric_curve`).
        labels: legend entry per curve (default: each curve's run folder name).
        step_offsets: added to each curve's steps, to draw a run that continued another where that
            one stopped (default: 0 for every curve).
        ylabel: y-axis label (default: the first curve's key).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: no curves, or ``labels`` / ``step_offsets`` of another length than ``curves``.
    """
    if not curves:
        raise ValueError("no curves to plot")
    labels = labels if labels is not None else [c.source.parent.name for c in curves]
    offsets = step_offsets if step_offsets is not None else [0] * len(curves)
    if len(labels) != len(curves) or len(offsets) != len(curves):
        raise ValueError(
            f"{len(curves)} curves but {len(labels)} labels and {len(offsets)} step offsets"
        )
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for curve, label, offset in zip(curves, labels, offsets, strict=True):
        ax.plot([s + offset for s in curve.steps], curve.values, marker="o", markersize=3, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel or curves[0].key)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _save_figure(fig, path)
