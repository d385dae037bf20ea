"""audiogen: generate audio with a mel-spectrogram VAE, a latent generator and a neural vocoder.

The stages, in the order a clip passes through them:

``audiogen.audio.io`` (files) → ``audiogen.audio.spectral`` (batched STFT / log-mel) →
``audiogen.models.autoencoder`` (mel ↔ latent) → latent generator → ``audiogen.models.vocoder``
(mel → waveform).
"""

__version__ = "0.1.0"
