"""audiogen: generate audio with a mel-spectrogram VAE, a latent generator and a neural vocoder.

The stages, in the order a clip passes through them:

``audiogen.audio.io`` (files) → ``audiogen.audio.features`` (batched STFT / log-mel) →
``audiogen.models.autoencoder`` (mel ↔ latent) → latent generator → ``audiogen.models.vocoder``
(mel → waveform).
"""

__version__ = "0.1.0"

#: Public names loaded on first use (module ``__getattr__``, PEP 562), so ``import audiogen`` stays light.
_LAZY = {
    "AudioGenPipeline": "audiogen.pipelines.audiogen",
    "load_pretrained": "audiogen.pipelines.audiogen",
    "SamplingConfig": "audiogen.pipelines.sampling",
    "GenerationResult": "audiogen.pipelines.outputs",
    "LoopResult": "audiogen.pipelines.outputs",
}

__all__ = ["AudioGenPipeline", "GenerationResult", "LoopResult", "SamplingConfig", "__version__"]
__all__ += ["load_pretrained"]


def __getattr__(name: str):
    """Import a public name (``AudioGenPipeline``, ``SamplingConfig``, ...) from :mod:`audiogen.pipelines`
    on first use.

    Raises:
        AttributeError: for any other name.
    """
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'audiogen' has no attribute {name!r}")
