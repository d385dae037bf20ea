"""Pure ``nn.Module`` models (no optimizers, logging or file I/O besides ``save/from_pretrained``).

- :mod:`audiogen.models.layers`: shared blocks (ConvNeXt-1D, channel LayerNorm, time resampling).
- :mod:`audiogen.models.autoencoder`: :class:`MelVAE`, log-mel ↔ latent.
- :mod:`audiogen.models.vocoder`: the vocoders (contract, shared ConvNeXt trunk, heads, Vocos, GL-refine).
- :mod:`audiogen.models.pretrained`: ``config.json`` + ``model.safetensors`` folders for every model.
"""

from audiogen.models.autoencoder import (
    AutoencoderConfig,
    AutoencoderOutput,
    DiagonalGaussian,
    MelAutoencoder,
    MelVAE,
)
from audiogen.models.pretrained import PretrainedMixin, load_model_files, save_model_files

__all__ = [
    "AutoencoderConfig",
    "AutoencoderOutput",
    "DiagonalGaussian",
    "MelAutoencoder",
    "MelVAE",
    "PretrainedMixin",
    "load_model_files",
    "save_model_files",
]
