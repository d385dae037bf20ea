"""Reconstruction metrics, and the held-out reconstruction benchmark of the mel front end's inverses.

Metrics:

* :func:`mel_l1_db`: mean absolute difference of two natural-log mels, in dB
  (``|Δ ln amplitude| × 20 / ln 10``; with the project's amplitude mel, ``power=1``, this is the
  dB difference of the mel magnitudes).
* :func:`mrstft_distance`: the multi-resolution STFT distance of Parallel WaveGAN (Yamamoto et al.
  2020) as implemented by ``auraloss.freq.MultiResolutionSTFTLoss`` with its default resolutions —
  FFT sizes 1024, 2048, 512 samples, hops 120, 240, 50, Hann windows of 600, 1200, 240 samples —
  spectral convergence ``‖|Y| − |X|‖_F / ‖|Y|‖_F`` plus the mean absolute log-magnitude
  difference ``mean |ln|Y| − ln|X||``, averaged over the three resolutions (dimensionless, 0 for
  identical audio). It uses STFT magnitudes only, so it does not penalise a phase that differs
  from the original, which is fair to Griffin-Lim. The vocoder's ``mrstft`` training loss uses the
  same definition (:class:`~audiogen.models.discriminators.VocoderLossConfig` defaults).

Benchmark (:func:`evaluate_reconstruction`): for held-out clips of a manifest split, compare the
clip with (a) Griffin-Lim (``n_iter`` iterations) on the clip's true log-mel, (b) the vocoder on
the true log-mel, (c) the VAE (posterior mean → decode) followed by the vocoder; each by
:func:`mel_l1_db` between the clip's log-mel and the log-mel re-analysed from the reconstruction,
and :func:`mrstft_distance`, averaged over clips. Beside them, the fine structure of each set of
mels (:func:`~audiogen.evaluation.sharpness.mel_sharpness`: frequency- and time-direction log-mel
gradients, spectral flatness, on the frames that are not silent in the clip), for the true mel, every
reconstruction's re-analysed mel and the VAE's decoded mel itself, so blur shows as a number.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from audiogen.audio.levels import DB_PER_NEPER, SILENCE_DB

if TYPE_CHECKING:
    import torch

    from audiogen.config import MelConfig


#: Resolutions of :func:`mrstft_distance` (auraloss' defaults), in samples.
MRSTFT_FFT_SIZES = (1024, 2048, 512)
MRSTFT_HOP_SIZES = (120, 240, 50)
MRSTFT_WIN_LENGTHS = (600, 1200, 240)

#: Method names of :class:`ReconstructionReport`, in table order, with their descriptions.
METHODS = {
    "griffin_lim": "Griffin-Lim on the true mel",
    "vocoder": "vocoder on the true mel",
    "vae_vocoder": "VAE (mean) + vocoder",
}

#: Sets of mels whose fine structure is reported, with their descriptions (methods re-analysed).
SHARPNESS_SETS = {"true": "true mel", **METHODS, "vae_mel": "VAE decoded mel (no vocoder)"}
SHARPNESS_KEYS = ("freq_gradient_db", "time_gradient_db", "spectral_flatness")


# ------------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------------


def mel_l1_db(log_mel_a: torch.Tensor, log_mel_b: torch.Tensor, frames: int | None = None) -> float:
    """Mean absolute difference of two natural-log mels in dB.

    ``mean(|a − b|) × 20 / ln 10`` over every band and frame (and batch item): natural-log
    amplitude differences converted to dB. This assumes an amplitude mel (``power=1``, the
    project's setting); for a power mel the number is twice the dB difference of the powers.

    Args:
        log_mel_a: ``(n_mels, frames)`` or ``(batch, n_mels, frames)``, natural log.
        log_mel_b: same shape as ``log_mel_a`` (frame counts may differ when ``frames`` is given).
        frames: compare only the first ``frames`` frames of both; ``None``: all (shapes must match).

    Returns:
        The mean absolute difference in dB (float; 0 for identical mels).

    Raises:
        ValueError: if the shapes differ (other than in frames when ``frames`` is given), a mel is
            not 2-D or 3-D, or either has fewer than ``frames`` frames.
    """
    a, b = log_mel_a, log_mel_b
    if a.dim() not in (2, 3) or b.dim() != a.dim():
        raise ValueError(
            f"mel_l1_db: expected two (n_mels, frames) or (batch, n_mels, frames) mels, got shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    if frames is not None:
        if frames < 1 or a.shape[-1] < frames or b.shape[-1] < frames:
            raise ValueError(
                f"mel_l1_db: frames={frames} but the mels have {a.shape[-1]} and {b.shape[-1]} frames"
            )
        a, b = a[..., :frames], b[..., :frames]
    if a.shape != b.shape:
        raise ValueError(f"mel_l1_db: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    return float((a.double() - b.double().to(a.device)).abs().mean()) * DB_PER_NEPER


def _as_batch(wav: torch.Tensor) -> torch.Tensor:
    """``(samples,)`` / ``(channels, samples)`` / ``(batch, channels, samples)`` → 3-D float32."""
    if wav.dim() == 1:
        return wav[None, None].float()
    if wav.dim() == 2:
        return wav[None].float()
    if wav.dim() == 3:
        return wav.float()
    raise ValueError(
        f"expected a waveform (samples,), (channels, samples) or (batch, channels, samples), "
        f"got shape {tuple(wav.shape)}"
    )


def mrstft_distance(wav_a: torch.Tensor, wav_b: torch.Tensor) -> float:
    """Multi-resolution STFT distance between two waveforms (auraloss, default resolutions).

    Spectral convergence + log-magnitude L1 at FFT sizes 1024 / 2048 / 512 samples (hops 120 / 240
    / 50, Hann windows 600 / 1200 / 240), averaged over the resolutions; ``wav_b`` is the reference
    (the denominator of the spectral convergence). See the module docstring. Reference:
    ``auraloss.freq.MultiResolutionSTFTLoss`` (Steinmetz & Reiss 2020), after Yamamoto et al. 2020.

    Args:
        wav_a: reconstruction, ``(samples,)``, ``(channels, samples)`` or ``(batch, channels, samples)``.
        wav_b: reference of the same shape.

    Returns:
        The distance (float, dimensionless; ~0 for identical audio).

    Raises:
        ValueError: if the shapes differ or there are at most 1024 samples (the 2048-point STFT's
            reflect padding needs more).
    """
    import auraloss

    a, b = _as_batch(wav_a), _as_batch(wav_b)
    if a.shape != b.shape:
        raise ValueError(f"mrstft_distance: shapes differ, {tuple(wav_a.shape)} vs {tuple(wav_b.shape)}")
    if a.shape[-1] <= max(MRSTFT_FFT_SIZES) // 2:
        raise ValueError(
            f"mrstft_distance: need more than {max(MRSTFT_FFT_SIZES) // 2} samples, got {a.shape[-1]}"
        )
    import torch

    loss = auraloss.freq.MultiResolutionSTFTLoss(
        fft_sizes=list(MRSTFT_FFT_SIZES),
        hop_sizes=list(MRSTFT_HOP_SIZES),
        win_lengths=list(MRSTFT_WIN_LENGTHS),
    ).to(a.device)
    with torch.no_grad():
        return float(loss(a, b.to(a.device)))


def check_same_front_end(vocoder: Any, autoencoder: Any, vocoder_dir: Any, autoencoder_dir: Any) -> None:
    """Raise ``ValueError`` (naming both folders) unless the two models use the same mel settings."""
    if autoencoder.mel_config != vocoder.mel_config:
        raise ValueError(
            f"the autoencoder in {autoencoder_dir} uses mel settings {autoencoder.mel_config.to_dict()}, "
            f"the vocoder in {vocoder_dir} uses {vocoder.mel_config.to_dict()}; they must be equal"
        )


# ------------------------------------------------------------------------------------------------
# benchmark
# ------------------------------------------------------------------------------------------------


@dataclass
class MethodScore:
    """Mean scores of one reconstruction method over the evaluated clips.

    Attributes:
        method: ``"griffin_lim"``, ``"vocoder"`` or ``"vae_vocoder"`` (see :data:`METHODS`).
        description: human-readable name.
        mel_l1_db: mean over clips of :func:`mel_l1_db` (dB) between the clip's log-mel and the
            log-mel of the reconstruction.
        mrstft: mean over clips of :func:`mrstft_distance` (reconstruction vs clip).
        clips: number of clips averaged.
    """

    method: str
    description: str
    mel_l1_db: float
    mrstft: float
    clips: int


@dataclass
class ReconstructionReport:
    """Result of :func:`evaluate_reconstruction`.

    Attributes:
        manifest: the manifest evaluated.
        split: its split.
        clips: clips evaluated.
        skipped: clips skipped (silent: RMS below :data:`~audiogen.audio.levels.SILENCE_DB` dBFS,
            or shorter than 2048 samples).
        seconds: clip length limit in seconds (``None``: whole files).
        sample_rate: evaluation sample rate in Hz (the vocoder's).
        n_iter: Griffin-Lim iterations.
        vocoder: the vocoder folder used (``None``: no vocoder rows).
        autoencoder: the autoencoder folder used (``None``: no VAE row).
        scores: one :class:`MethodScore` per method, in :data:`METHODS` order.
        sharpness: ``{set: {measure: mean over clips}}`` for the sets of :data:`SHARPNESS_SETS`
            that were evaluated and the measures of :data:`SHARPNESS_KEYS`.
        per_clip: ``{"path", "<method>/mel_l1_db", "<method>/mrstft", "<set>/<measure>", ...}`` per clip.
    """

    manifest: str
    split: str
    clips: int
    skipped: int
    seconds: float | None
    sample_rate: int
    n_iter: int
    vocoder: str | None
    autoencoder: str | None
    scores: list[MethodScore] = field(default_factory=list)
    sharpness: dict[str, dict[str, float]] = field(default_factory=dict)
    per_clip: list[dict[str, Any]] = field(default_factory=list)

    def score(self, method: str) -> MethodScore:
        """The :class:`MethodScore` of ``method``.

        Raises:
            KeyError: if that method was not evaluated.
        """
        for s in self.scores:
            if s.method == method:
                return s
        raise KeyError(f"method {method!r} was not evaluated; have {[s.method for s in self.scores]}")

    def table(self) -> str:
        """A plain-text table: one row per method, columns mel L1 (dB) and MR-STFT."""
        name_w = max([len("method")] + [len(s.description) for s in self.scores])
        lines = [
            f"{'method':<{name_w}}  {'mel L1 (dB)':>11}  {'MR-STFT':>8}",
            f"{'-' * name_w}  {'-' * 11}  {'-' * 8}",
        ]
        lines += [f"{s.description:<{name_w}}  {s.mel_l1_db:>11.3f}  {s.mrstft:>8.4f}" for s in self.scores]
        seconds = "whole files" if self.seconds is None else f"first {self.seconds:g} s"
        lines.append(
            f"{self.clips} clips of split {self.split!r} ({seconds}, {self.sample_rate} Hz, "
            f"{self.skipped} skipped), Griffin-Lim {self.n_iter} iterations"
        )
        if self.sharpness:
            set_w = max(len(SHARPNESS_SETS[k]) for k in self.sharpness)
            lines += [
                "",
                f"{'fine structure':<{set_w}}  {'freq grad (dB)':>14}  {'time grad (dB)':>14}  "
                f"{'flatness':>8}",
                f"{'-' * set_w}  {'-' * 14}  {'-' * 14}  {'-' * 8}",
            ]
            for key, v in self.sharpness.items():
                lines.append(
                    f"{SHARPNESS_SETS[key]:<{set_w}}  {v['freq_gradient_db']:>14.3f}  "
                    f"{v['time_gradient_db']:>14.3f}  {v['spectral_flatness']:>8.4f}"
                )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


def evaluate_reconstruction(
    manifest: str | os.PathLike[str],
    split: str = "test",
    vocoder_dir: str | os.PathLike[str] | None = None,
    autoencoder_dir: str | os.PathLike[str] | None = None,
    max_clips: int | None = None,
    seconds: float | None = None,
    n_iter: int = 32,
    device: str | torch.device | None = None,
    normalize: Literal["peak"] | None = "peak",
    png_path: str | os.PathLike[str] | None = None,
    mel_config: MelConfig | None = None,
    progress: bool = True,
    seed: int = 0,
) -> ReconstructionReport:
    """Reconstruct held-out clips three ways and measure each against the original.

    For every clip of ``split`` (manifest order, the first ``max_clips``), loaded mono at the
    vocoder's sample rate, cut to its first ``seconds`` seconds and (by default) peak-normalised
    to -1 dBFS like the training crops: its log-mel ``(1, n_mels, frames)`` is inverted by (a)
    :func:`~audiogen.audio.inverse.griffin_lim` with ``n_iter`` iterations, (b) the vocoder, (c)
    the VAE's posterior mean decoded to a mel, then the vocoder. Every reconstruction is cut to the
    clip's length and scored with :func:`mel_l1_db` (clip log-mel vs re-analysed log-mel) and
    :func:`mrstft_distance`; scores are averaged over clips. Rows whose model is not given are
    left out. A tqdm bar shows progress.

    Args:
        manifest: JSONL manifest (:func:`audiogen.data.manifest.read_manifest`).
        split: the split to evaluate (held-out audio: ``"test"``).
        vocoder_dir: vocoder model / pipeline / checkpoint / run folder (``None``: Griffin-Lim only).
        autoencoder_dir: autoencoder folder (``None``: no VAE row; needs ``vocoder_dir``).
        max_clips: at most this many clips (``None``: all of the split).
        seconds: evaluate the first ``seconds`` seconds of each file (``None``: whole files).
        n_iter: Griffin-Lim iterations.
        device: torch device (default: CUDA if available, else CPU).
        normalize: ``"peak"`` (-1 dBFS) or ``None`` (as stored).
        png_path: if given, a PNG of the first clip's log-mels (true / Griffin-Lim / vocoder /
            VAE + vocoder, the latter three re-analysed from the audio) is written there.
        mel_config: front end when no model is given (default :class:`MelConfig()`); ignored
            otherwise (the models' settings are used).
        progress: show the progress bar.
        seed: seed of Griffin-Lim's random initial phase.

    Returns:
        :class:`ReconstructionReport`.

    Raises:
        FileNotFoundError: missing manifest or model folder.
        ValueError: bad arguments, no clips in the split, or models with different mel settings.
    """
    import torch
    from tqdm.auto import tqdm

    from audiogen.audio.features import LogMelSpectrogram
    from audiogen.audio.inverse import griffin_lim
    from audiogen.audio.io import load_audio
    from audiogen.config import MelConfig
    from audiogen.data.manifest import read_manifest
    from audiogen.evaluation.sharpness import active_frames, mel_sharpness

    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}")
    if max_clips is not None and max_clips < 1:
        raise ValueError(f"max_clips must be >= 1, got {max_clips}")
    if seconds is not None and seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    if normalize not in ("peak", None):
        raise ValueError(f"normalize must be 'peak' or None, got {normalize!r}")
    if autoencoder_dir is not None and vocoder_dir is None:
        raise ValueError("the VAE + vocoder row needs a vocoder: give vocoder_dir too")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    from audiogen.hub import load_model

    vocoder = load_model(vocoder_dir, "vocoder", device) if vocoder_dir is not None else None
    autoencoder = load_model(autoencoder_dir, "autoencoder", device) if autoencoder_dir is not None else None
    if vocoder is not None and autoencoder is not None:
        check_same_front_end(vocoder, autoencoder, vocoder_dir, autoencoder_dir)
    cfg = vocoder.mel_config if vocoder is not None else (mel_config or MelConfig())
    frontend = LogMelSpectrogram(cfg).to(device)

    entries = [e for e in read_manifest(manifest) if e.split == split]
    if not entries:
        raise ValueError(f"{manifest}: no files in split {split!r}")
    if max_clips is not None:
        entries = entries[:max_clips]

    methods = ["griffin_lim"] + (["vocoder"] if vocoder is not None else [])
    methods += ["vae_vocoder"] if autoencoder is not None else []
    per_clip: list[dict[str, Any]] = []
    skipped = 0
    min_samples = max(MRSTFT_FFT_SIZES)
    for entry in tqdm(entries, desc=f"reconstruct {split}", disable=not progress, dynamic_ncols=True):
        wav = load_audio(entry.path, sample_rate=cfg.sample_rate, channels=1, duration=seconds).waveform
        rms_db = 20 * math.log10(max(float(wav.double().square().mean().sqrt()), 1e-12))
        if rms_db < SILENCE_DB or wav.shape[-1] < min_samples:
            skipped += 1
            continue
        if normalize == "peak":
            wav = wav * (10 ** (-1 / 20) / float(wav.abs().max()))
        wav = wav.to(device)
        n = wav.shape[-1]
        with torch.no_grad():
            mel = frontend(wav).mel  # (1, n_mels, frames)
            outputs: dict[str, torch.Tensor] = {}  # method -> (1, n)
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(seed)
                outputs["griffin_lim"] = griffin_lim(mel, cfg, n_iter=n_iter, length=n)
            if vocoder is not None:
                outputs["vocoder"] = vocoder(mel)[:, 0, :n].float()
            vae_mel = None
            if autoencoder is not None:
                latent = autoencoder.encode(mel)  # posterior mean
                vae_mel = autoencoder.decode(latent, frames=mel.shape[-1])
                outputs["vae_vocoder"] = vocoder(vae_mel)[:, 0, :n].float()
            row: dict[str, Any] = {"path": str(entry.path)}
            mels = {"true": mel[0]}
            for method in methods:
                out_mel = frontend(outputs[method]).mel
                mels[method] = out_mel[0]
                row[f"{method}/mel_l1_db"] = mel_l1_db(out_mel, mel)
                row[f"{method}/mrstft"] = mrstft_distance(outputs[method], wav)
            mask = active_frames(mel[0])
            sets = {**mels, **({"vae_mel": vae_mel[0]} if vae_mel is not None else {})}
            for key, m in sets.items():
                frames = min(m.shape[-1], mask.shape[0])
                found = mel_sharpness(m[:, :frames].float().cpu(), mask[:frames].cpu()).to_dict()
                row.update({f"{key}/{k}": found[k] for k in SHARPNESS_KEYS})
        if png_path is not None and not per_clip:
            from audiogen.evaluation.plotting import save_mel_png

            titles = {"true": f"true log-mel ({Path(entry.path).name})", **METHODS}
            save_mel_png(png_path, [m.cpu() for m in mels.values()], cfg, [titles[k] for k in mels])
        per_clip.append(row)
    if not per_clip:
        raise ValueError(
            f"{manifest}: every one of the {len(entries)} clips of split {split!r} was skipped "
            "(silent or shorter than 2048 samples)"
        )
    scores = [
        MethodScore(
            method=m,
            description=METHODS[m],
            mel_l1_db=sum(r[f"{m}/mel_l1_db"] for r in per_clip) / len(per_clip),
            mrstft=sum(r[f"{m}/mrstft"] for r in per_clip) / len(per_clip),
            clips=len(per_clip),
        )
        for m in methods
    ]
    sharp_sets = [k for k in SHARPNESS_SETS if f"{k}/{SHARPNESS_KEYS[0]}" in per_clip[0]]
    sharpness = {
        k: {m: sum(r[f"{k}/{m}"] for r in per_clip) / len(per_clip) for m in SHARPNESS_KEYS}
        for k in sharp_sets
    }
    return ReconstructionReport(
        manifest=str(manifest),
        split=split,
        clips=len(per_clip),
        skipped=skipped,
        seconds=seconds,
        sample_rate=cfg.sample_rate,
        n_iter=n_iter,
        vocoder=None if vocoder_dir is None else str(vocoder_dir),
        autoencoder=None if autoencoder_dir is None else str(autoencoder_dir),
        scores=scores,
        sharpness=sharpness,
        per_clip=per_clip,
    )
