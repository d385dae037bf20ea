"""Style classifier: log-mel ``(batch, n_mels, frames)`` → embedding ``(batch, embed_dim)`` → logits.

A small 2-D CNN over the log-mel "image" (bands × frames), in the VGG-like form of the PANNs CNN
family (Kong et al., 2020, "PANNs: Large-Scale Pretrained Audio Neural Networks", ``Cnn6`` /
``Cnn14``: stacks of 3×3 convolutions with 2×2 pooling, then global pooling over frequency and
time), here narrower, with GroupNorm instead of BatchNorm (an item's output never depends on the
batch or on running statistics), and a linear *embedding* layer before the classification head, as
VGGish's last fully-connected layer serves the Fréchet Audio Distance (Kilgour et al., 2019).

It is trained on the corpus styles (``audiogen train classifier``) and then used as the project's
own offline embedding for :mod:`audiogen.evaluation.frechet`: the embedding is the pre-activation output of
that linear layer, one vector per clip.

Any number of frames (>= 1) works: pooling uses ``ceil_mode`` so no axis shrinks to zero, and
global pooling (mean over bands, then mean and max over frames) makes the embedding independent of
the clip length. Items of one batch are independent of each other; a batch must have one length
(pad with silence and the padding becomes part of the clip).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from einops import reduce
from torch import nn

from audiogen.config import MelConfig, from_dict
from audiogen.models.pretrained import PretrainedMixin


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture, label names and fixed input normalisation of :class:`StyleClassifier`.

    Attributes:
        mel: the log-mel front end the classifier reads (natural-log amplitude mel, see
            :class:`~audiogen.config.MelConfig`); embedders compute this mel from audio.
        labels: style names in class order (index = class); at least 2.
        channels: output channels of each convolution stage; every stage but the last is
            followed by 2×2 max pooling (bands and frames halved, rounded up).
        convs_per_stage: 3×3 convolutions (each + GroupNorm + GELU) per stage.
        embed_dim: size of the embedding (the linear layer after global pooling).
        dropout: dropout before the classification head (training only).
        mel_mean: offset subtracted from the natural-log mel before the network.
        mel_std: scale the offset mel is divided by.
    """

    mel: MelConfig = field(default_factory=MelConfig)
    labels: tuple[str, ...] = ()
    channels: tuple[int, ...] = (16, 32, 64, 128)
    convs_per_stage: int = 2
    embed_dim: int = 64
    dropout: float = 0.1
    mel_mean: float = -5.0
    mel_std: float = 2.5

    def __post_init__(self) -> None:
        if isinstance(self.mel, dict):  # from config.json / a recipe section
            object.__setattr__(self, "mel", from_dict(MelConfig, self.mel))
        object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ValueError(
                f"ClassifierConfig.labels must name at least 2 distinct styles, got {list(self.labels)}"
            )
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"ClassifierConfig.channels must be positive integers, got {self.channels}")
        if self.convs_per_stage < 1 or self.embed_dim < 1:
            raise ValueError(
                "ClassifierConfig.convs_per_stage and embed_dim must be >= 1, got "
                f"{self.convs_per_stage}, {self.embed_dim}"
            )
        if not 0.0 <= self.dropout < 1.0 or self.mel_std <= 0:
            raise ValueError(
                f"ClassifierConfig: need 0 <= dropout < 1 and mel_std > 0, got {self.dropout}, {self.mel_std}"
            )

    @property
    def num_classes(self) -> int:
        """Number of styles (``len(labels)``)."""
        return len(self.labels)


@dataclass
class ClassifierOutput:
    """Result of :meth:`StyleClassifier.forward`.

    Attributes:
        embedding: ``(batch, embed_dim)`` float, the clip embedding (input of the head).
        logits: ``(batch, num_classes)`` unnormalised class scores (softmax → probabilities).
    """

    embedding: torch.Tensor
    logits: torch.Tensor


def _group_norm(channels: int) -> nn.GroupNorm:
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class StyleClassifier(PretrainedMixin, nn.Module):
    """CNN style classifier and embedding network on natural-log mels (see the module docstring).

    ``forward(log_mel (batch, n_mels, frames))`` → :class:`ClassifierOutput` with ``embedding``
    ``(batch, embed_dim)`` and ``logits`` ``(batch, num_classes)``. Saved and loaded as
    ``config.json`` + ``model.safetensors`` (:class:`~audiogen.models.pretrained.PretrainedMixin`).

    Args:
        config: :class:`ClassifierConfig`.
    """

    config_class = ClassifierConfig

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        stages = []
        c_in = 1
        for i, c_out in enumerate(config.channels):
            layers: list[nn.Module] = []
            for j in range(config.convs_per_stage):
                layers += [
                    nn.Conv2d(c_in if j == 0 else c_out, c_out, 3, padding=1, bias=False),
                    _group_norm(c_out),
                    nn.GELU(),
                ]
            if i < len(config.channels) - 1:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            stages.append(nn.Sequential(*layers))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.embedding = nn.Linear(2 * c_in, config.embed_dim)
        self.head = nn.Sequential(
            nn.GELU(), nn.Dropout(config.dropout), nn.Linear(config.embed_dim, config.num_classes)
        )

    @property
    def labels(self) -> tuple[str, ...]:
        """Style names in class order."""
        return self.config.labels

    def _check(self, log_mel: torch.Tensor) -> None:
        n_mels = self.config.mel.n_mels
        if log_mel.dim() != 3 or log_mel.shape[1] != n_mels or log_mel.shape[-1] < 1:
            raise ValueError(
                f"StyleClassifier expects a log-mel (batch, n_mels={n_mels}, frames >= 1), "
                f"got shape {tuple(log_mel.shape)}"
            )

    def forward(self, log_mel: torch.Tensor) -> ClassifierOutput:
        """Embedding and logits of a batch of natural-log mels.

        Args:
            log_mel: ``(batch, n_mels, frames)``, natural-log amplitude mel (as
                :class:`~audiogen.audio.features.LogMelSpectrogram` with ``config.mel``).

        Returns:
            :class:`ClassifierOutput`: ``embedding (batch, embed_dim)``, ``logits (batch, num_classes)``.

        Raises:
            ValueError: if the input is not 3-D with ``n_mels`` bands and at least one frame.
        """
        self._check(log_mel)
        x = (log_mel.float() - self.config.mel_mean) / self.config.mel_std
        x = self.stages(x[:, None])  # (batch, channels, bands', frames')
        x = reduce(x, "b c f t -> b c t", "mean")
        pooled = torch.cat([x.mean(dim=-1), x.amax(dim=-1)], dim=-1)  # (batch, 2 * channels)
        embedding = self.embedding(pooled)
        return ClassifierOutput(embedding=embedding, logits=self.head(embedding))

    def embed(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Only the embedding ``(batch, embed_dim)`` of ``log_mel`` ``(batch, n_mels, frames)``.

        Raises:
            ValueError: as :meth:`forward`.
        """
        return self.forward(log_mel).embedding
