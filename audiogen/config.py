"""Typed configuration for every stage, and YAML recipes with ``key=value`` overrides.

Each stage's settings are a dataclass; a recipe is a YAML file whose top-level keys name the
sections. :func:`load_recipe` merges the file with command-line overrides (OmegaConf dotlist
syntax, e.g. ``mel.n_mels=64 train.max_steps=10``) and returns a plain nested dict that each stage
turns into its dataclass with :func:`from_dict`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class MelConfig:
    """Settings of the STFT / log-mel front end shared by every stage.

    Attributes:
        sample_rate: audio sample rate in Hz.
        n_fft: FFT size in samples.
        hop_length: hop between frames in samples.
        win_length: Hann window length in samples (``None`` means ``n_fft``).
        n_mels: number of mel bands.
        f_min: lowest mel filter edge in Hz.
        f_max: highest mel filter edge in Hz (``None`` means ``sample_rate / 2``).
        center: pad ``n_fft // 2`` samples on both sides (reflect) so frame ``t`` is centred on
            sample ``t * hop_length``, as in librosa and torchaudio.
        power: 1.0 for an amplitude mel spectrogram, 2.0 for power.
        mel_scale: ``"slaney"`` (librosa's default) or ``"htk"``.
        norm: ``"slaney"`` (area normalisation, librosa's default) or ``None``.
        log_floor: log compression is ``ln(max(mel, log_floor))``; the floor is the silence level
            (``ln(1e-5)`` ≈ -11.5, i.e. -100 dB amplitude).
    """

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int | None = None
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float | None = None
    center: bool = True
    power: float = 1.0
    mel_scale: Literal["slaney", "htk"] = "slaney"
    norm: Literal["slaney"] | None = "slaney"
    log_floor: float = 1e-5

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.n_fft <= 0 or self.hop_length <= 0:
            raise ValueError(f"n_fft and hop_length must be positive, got {self.n_fft}, {self.hop_length}")
        if self.win_length is not None and not 0 < self.win_length <= self.n_fft:
            raise ValueError(f"win_length must be in (0, n_fft={self.n_fft}], got {self.win_length}")
        f_max = self.sample_rate / 2 if self.f_max is None else self.f_max
        if not 0 <= self.f_min < f_max <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= f_min < f_max <= sample_rate/2, got f_min={self.f_min}, f_max={self.f_max}, "
                f"sample_rate={self.sample_rate}"
            )
        if self.mel_scale not in ("slaney", "htk"):
            raise ValueError(f"mel_scale must be 'slaney' or 'htk', got {self.mel_scale!r}")
        if self.norm not in ("slaney", None):
            raise ValueError(f"norm must be 'slaney' or None, got {self.norm!r}")
        if self.power not in (1.0, 2.0):
            raise ValueError(f"power must be 1.0 (amplitude) or 2.0 (power), got {self.power}")

    @property
    def n_freqs(self) -> int:
        """Number of one-sided FFT bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def effective_win_length(self) -> int:
        """Window length in samples, with ``None`` resolved to ``n_fft``."""
        return self.n_fft if self.win_length is None else self.win_length

    @property
    def effective_f_max(self) -> float:
        """Upper filter edge in Hz, with ``None`` resolved to ``sample_rate / 2``."""
        return self.sample_rate / 2 if self.f_max is None else float(self.f_max)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON / YAML."""
        return dataclasses.asdict(self)


def from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys.

    Raises:
        ValueError: if ``data`` has a key that ``cls`` does not define (names the key and the
            accepted ones), so a typo in a recipe fails loudly instead of being ignored.
    """
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown key(s) {unknown}; accepted: {sorted(names)}")
    return cls(**data)


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a YAML recipe and apply ``key=value`` overrides.

    Args:
        path: YAML file.
        overrides: dotted ``section.key=value`` strings (OmegaConf dotlist syntax); values are
            parsed as YAML, so ``train.max_steps=10`` is an int and ``mel.f_max=null`` is ``None``.

    Returns:
        The merged recipe as a plain nested dict.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if an override is not of the form ``key=value``.
    """
    from omegaconf import OmegaConf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe not found: {path}")
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key=value")
    base = OmegaConf.load(path)
    merged = OmegaConf.merge(base, OmegaConf.from_dotlist(list(overrides)))
    return OmegaConf.to_container(merged, resolve=True)  # type: ignore[return-value]
