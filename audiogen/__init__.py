"""audiogen: generate audio with a mel-spectrogram VAE, a latent generator and a neural vocoder.

The stages, in the order a clip passes through them:

``audiogen.audio.io`` (files) → ``audiogen.audio.features`` (batched STFT / log-mel) →
``audiogen.models.autoencoder`` (mel ↔ latent) → latent generator → ``audiogen.models.vocoder``
(mel → waveform).
"""

__version__ = "0.1.0"

#: Public names loaded on first use (module ``__getattr__``, PEP 562), so ``import audiogen`` stays light.
_PUBLIC = ("AudioGenPipeline", "GenerationResult", "LoopResult", "SamplingConfig", "load_pretrained")

__all__ = ["AudioGenPipeline", "GenerationResult", "LoopResult", "SamplingConfig", "__version__"]
__all__ += ["load_pretrained"]


def __getattr__(name: str):
    """A public name of :mod:`audiogen.pipelines` (``AudioGenPipeline``, ``SamplingConfig``, ...),
    imported on first use.

    Raises:
        AttributeError: for any other name.
    """
    if name in _PUBLIC:
        from audiogen import pipelines

        return getattr(pipelines, name)
    raise AttributeError(f"module 'audiogen' has no attribute {name!r}")
