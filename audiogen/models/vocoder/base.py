"""The vocoder contract: natural-log mel spectrogram → waveform.

:class:`Vocoder` is the base class of every vocoder (:class:`~audiogen.models.vocoder.vocos.VocosVocoder`,
:class:`~audiogen.models.vocoder.gl_refine.GLRefineVocoder`); its docstring fixes the shapes, and
the length contract below fixes how output samples line up with the clip the mel came from.

Length contract (with the project's ``center=True`` front end, :class:`audiogen.config.MelConfig`):

* mel frame ``t`` is centred on sample ``t * hop_length``;
* a clip of ``num_samples`` samples gives ``num_samples // hop_length + 1`` frames;
* the vocoder maps ``frames`` mel frames to exactly ``frames * hop_length`` samples, sample ``n``
  of the output lining up with sample ``n`` of the clip the mel came from. Vocoding the full mel of
  a clip therefore gives up to ``hop_length`` samples more than the clip: crop with
  ``waveform[..., :num_samples]``. For training, take a segment of ``k * hop_length`` samples and
  its first ``k`` mel frames (drop the last frame), so target and output have the same length.
* with a ``center=False`` front end frame ``t`` is centred on sample ``t * hop_length + n_fft // 2``
  instead, so output sample ``n`` lines up with clip sample ``n + n_fft // 2``.

The heads' inverse STFT (:func:`audiogen.models.vocoder.heads.istft_centered`) equals
:func:`torch.istft` with ``center=True`` and ``length=frames * hop_length``, the inverse of the
front end's framing (the last ``hop_length`` samples are reconstructed from the right halves of the
last frames). It runs on CPU and CUDA for any number of frames ``>= 1``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from audiogen.config import MelConfig
from audiogen.models.pretrained import PretrainedMixin


class Vocoder(PretrainedMixin, nn.Module):
    """Base class of the vocoders: log-mel spectrogram in, waveform out.

    Shapes (the contract every subclass keeps):
        input ``mel``: ``(batch, n_mels, frames)``, natural-log amplitude mel
        ``ln(max(mel, log_floor))`` as produced by :class:`audiogen.audio.features.LogMelSpectrogram`
        with the vocoder's :class:`~audiogen.config.MelConfig`; ``frames >= 1``.
        output ``waveform``: ``(batch, 1, frames * hop_length)``, float, nominally in ``[-1, 1]``, at
        ``sample_rate`` Hz. Output sample ``n`` aligns with sample ``n`` of the clip the mel was
        computed from (frame ``t`` centred on sample ``t * hop_length``); see the module docstring.

    Subclasses set ``config_class`` to a dataclass with a ``mel: MelConfig`` field, store the
    instance as ``self.config``, and implement :meth:`forward`. Saving and loading is the project's
    model-folder format (``config.json`` + ``model.safetensors``,
    :class:`audiogen.models.pretrained.PretrainedMixin`): ``save_pretrained(directory)``,
    ``from_pretrained(directory, device)``.
    """

    @property
    def mel_config(self) -> MelConfig:
        """The front end the vocoder expects its input from."""
        return self.config.mel

    @property
    def hop_length(self) -> int:
        """Output samples per input frame."""
        return self.config.mel.hop_length

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz."""
        return self.config.mel.sample_rate

    @property
    def n_mels(self) -> int:
        """Mel bands expected at the input."""
        return self.config.mel.n_mels

    def num_samples(self, frames: int) -> int:
        """Output length in samples for ``frames`` input frames: ``frames * hop_length``."""
        return frames * self.hop_length

    def check_mel(self, mel: torch.Tensor) -> None:
        """Validate a ``(batch, n_mels, frames)`` input.

        Raises:
            ValueError: if ``mel`` is not 3-D, has the wrong number of mel bands, has no frames, or is
                not floating point.
        """
        name = type(self).__name__
        if mel.ndim != 3:
            raise ValueError(f"{name}: mel must be (batch, n_mels, frames), got shape {tuple(mel.shape)}")
        if mel.shape[1] != self.n_mels:
            raise ValueError(f"{name}: expected n_mels={self.n_mels}, got mel of shape {tuple(mel.shape)}")
        if mel.shape[2] < 1:
            raise ValueError(f"{name}: mel has no frames (shape {tuple(mel.shape)})")
        if not mel.is_floating_point():
            raise ValueError(f"{name}: mel must be floating point, got {mel.dtype}")

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Map ``(batch, n_mels, frames)`` log-mel to a ``(batch, 1, frames * hop_length)`` waveform."""
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> Vocoder:
        """Load a vocoder folder (``config.json`` + ``model.safetensors``) in eval mode.

        Called on :class:`Vocoder` it builds whichever subclass ``config.json`` names; called on a
        subclass it requires that class (see :meth:`PretrainedMixin.from_pretrained`).

        Raises:
            FileNotFoundError: if ``config.json`` or ``model.safetensors`` is missing.
            ValueError: if ``config.json`` is malformed or names an unknown (or, on a subclass, a
                different) class, or the weights do not match the configuration.
        """
        if cls is not Vocoder:
            return super().from_pretrained(directory, device)
        from audiogen.models.config_checks import read_json
        from audiogen.models.pretrained import CONFIG_NAME

        # the subclasses are defined by the time this runs: importing this module runs the package's
        # __init__, which imports every vocoder; the class table of names is audiogen.hub's
        config_path = Path(directory) / CONFIG_NAME
        if not config_path.is_file():
            raise FileNotFoundError(f"{directory}: missing {CONFIG_NAME}")
        meta = read_json(config_path)
        name = meta.get("class") if isinstance(meta, dict) else None
        known = {klass.__name__: klass for klass in _descendants(Vocoder)}
        if name not in known:
            raise ValueError(f"{config_path}: {name!r} is not a vocoder; known: {sorted(known)}")
        return known[name].from_pretrained(directory, device)


def _descendants(klass: type) -> list[type]:
    """Every class derived from ``klass``, at any depth."""
    found = []
    for sub in klass.__subclasses__():
        found += [sub, *_descendants(sub)]
    return found
