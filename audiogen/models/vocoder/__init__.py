"""Neural vocoders: natural-log mel spectrogram → waveform.

Two classes share the :class:`~audiogen.models.vocoder.base.Vocoder` contract (``base.py``: shapes
and the length contract) and are picked by name from a recipe (``model.vocoder.type``,
:data:`VOCODER_TYPES`) or from a model folder's ``config.json`` (:meth:`Vocoder.from_pretrained`,
:data:`audiogen.hub.MODEL_CLASSES`):

- :class:`VocosVocoder` (``"vocos"``, ``vocos.py``): Vocos' ConvNeXt-1D trunk (``backbone.py``) and
  iSTFT head (``heads.py``);
- :class:`GLRefineVocoder` (``"gl_refine"``, ``gl_refine.py``): NNLS mel inversion + fast
  Griffin-Lim + a learned complex refinement by the same trunk, after Masuyama et al. 2019, "Deep
  Griffin-Lim Iteration".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audiogen.config import MelConfig, from_dict
from audiogen.models.vocoder.backbone import ConvNeXtBackbone
from audiogen.models.vocoder.base import Vocoder
from audiogen.models.vocoder.gl_refine import GLRefineConfig, GLRefineOutput, GLRefineVocoder
from audiogen.models.vocoder.heads import ISTFTHead, istft_centered, overlap_add
from audiogen.models.vocoder.vocos import VocoderConfig, VocosVocoder

__all__ = [
    "VOCODER_TYPES",
    "ConvNeXtBackbone",
    "GLRefineConfig",
    "GLRefineOutput",
    "GLRefineVocoder",
    "ISTFTHead",
    "Vocoder",
    "VocoderConfig",
    "VocoderSpec",
    "VocosVocoder",
    "istft_centered",
    "overlap_add",
    "vocoder_spec",
]

#: Vocoder classes by the short name a recipe's ``model.vocoder.type`` uses, with their configs.
VOCODER_TYPES: dict[str, tuple[type[Vocoder], type]] = {
    "vocos": (VocosVocoder, VocoderConfig),
    "gl_refine": (GLRefineVocoder, GLRefineConfig),
}


@dataclass(frozen=True)
class VocoderSpec:
    """A vocoder type and its resolved configuration (see :func:`vocoder_spec`).

    Attributes:
        type: key of :data:`VOCODER_TYPES` (``"vocos"`` or ``"gl_refine"``).
        config: the matching config dataclass (:class:`VocoderConfig` or :class:`GLRefineConfig`).
    """

    type: str
    config: Any

    def build(self) -> Vocoder:
        """A fresh (untrained) vocoder of this type and configuration."""
        return VOCODER_TYPES[self.type][0](self.config)


def vocoder_spec(fields: dict[str, Any] | None, mel: MelConfig) -> VocoderSpec:
    """Resolve a recipe's ``model.vocoder`` section against the recipe's front end.

    Args:
        fields: the section: an optional ``type`` (a key of :data:`VOCODER_TYPES`, default
            ``"vocos"``) and the chosen config dataclass's fields except ``mel``.
        mel: the front end (the recipe's ``mel`` section).

    Returns:
        :class:`VocoderSpec` with the type and the validated config.

    Raises:
        ValueError: if ``type`` is unknown (lists the known ones), ``mel`` is given in ``fields``, or
            a field is unknown / invalid for the chosen config.
    """
    fields = dict(fields or {})
    kind = fields.pop("type", "vocos")
    if kind not in VOCODER_TYPES:
        raise ValueError(f"model.vocoder.type: unknown vocoder {kind!r}; known: {sorted(VOCODER_TYPES)}")
    if "mel" in fields:
        raise ValueError("model.vocoder.mel: the front end is set in the recipe's 'mel' section")
    return VocoderSpec(kind, from_dict(VOCODER_TYPES[kind][1], {**fields, "mel": mel}))
