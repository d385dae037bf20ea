"""audiogen: generate audio with a mel-spectrogram VAE, a latent generator and a neural vocoder.

The stages, in the order a clip passes through them:

``audiogen.audio.io`` (files) → ``audiogen.audio.features`` (batched STFT / log-mel) →
``audiogen.models.autoencoder`` (mel ↔ latent) → latent generator → ``audiogen.models.vocoder``
(mel → waveform).
"""

__version__ = "0.1.0"

#: Public names loaded on first use (module ``__getattr__``, PEP 562), so ``import audiogen`` stays light.
_LAZY = {"AudioGenPipeline": "audiogen.pipelines.audiogen", "load_pretrained": "audiogen.pipelines.audiogen"}

__all__ = ["AudioGenPipeline", "__version__", "load_pretrained"]


def __getattr__(name: str):
    """Import ``AudioGenPipeline`` / ``load_pretrained`` from :mod:`audiogen.pipelines` on first use.

    Raises:
        AttributeError: for any other name.
    """
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'audiogen' has no attribute {name!r}")
