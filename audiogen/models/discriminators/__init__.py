"""Every discriminator of the project and the adversarial losses.

* :mod:`.waveform`: the vocoder GAN's MPD + MRD (:class:`VocoderDiscriminator`).
* :mod:`.mel`: multi-scale patch discriminators over the log-mel (:class:`MultiScaleMelDiscriminator`),
  for the mel VAE's adversarial phase.
* :mod:`.losses`: hinge / least-squares adversarial losses, feature matching, the vocoder's loss set.
"""

from audiogen.models.discriminators.losses import (
    DEFAULT_LOSS_WEIGHTS,
    DISCRIMINATOR_LOSS_NAMES,
    GENERATOR_LOSS_NAMES,
    AdversarialLossType,
    MelL1Loss,
    VocoderLoss,
    VocoderLossConfig,
    discriminator_adversarial_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from audiogen.models.discriminators.mel import (
    MelDiscriminatorConfig,
    MelPatchDiscriminator,
    MultiScaleMelDiscriminator,
)
from audiogen.models.discriminators.waveform import (
    DiscriminatorConfig,
    DiscriminatorOutput,
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
    PeriodDiscriminator,
    ResolutionDiscriminator,
    VocoderDiscriminator,
)

__all__ = [
    "DEFAULT_LOSS_WEIGHTS",
    "DISCRIMINATOR_LOSS_NAMES",
    "GENERATOR_LOSS_NAMES",
    "AdversarialLossType",
    "DiscriminatorConfig",
    "DiscriminatorOutput",
    "MelDiscriminatorConfig",
    "MelL1Loss",
    "MelPatchDiscriminator",
    "MultiPeriodDiscriminator",
    "MultiResolutionDiscriminator",
    "MultiScaleMelDiscriminator",
    "PeriodDiscriminator",
    "ResolutionDiscriminator",
    "VocoderDiscriminator",
    "VocoderLoss",
    "VocoderLossConfig",
    "discriminator_adversarial_loss",
    "feature_matching_loss",
    "generator_adversarial_loss",
]
