"""The latent sequence model: a causal Transformer over latent frames, for endless streams.

:class:`LatentSequenceModel` generates the latent ``(batch, latent_dim, latent_frames)`` of the
mel VAE one step at a time, each step ``frames_per_step`` latent frames (a *token*), so audio can be
decoded and played while generation continues (:mod:`audiogen.pipelines.stream`).

* **Backbone**: pre-norm Transformer blocks with rotary position embeddings (Su et al., 2021,
  RoFormer) over tokens; the input at position ``i`` is the previous token (a learned *start* token
  at position 0), the output conditions the prediction of token ``i``.
* **Bounded context**: every query sees the start token and the ``context_tokens - 1`` most recent
  tokens (a sliding window whose first slot is a fixed "attention sink", as StreamingLLM, Xiao et
  al., 2024, keeps). The start token always sits ``min(i, context_tokens - 1)`` positions before
  query ``i``. Generation keeps exactly that window in its KV cache
  (:class:`SequenceState`), so memory and time per step stay constant however long the stream is,
  and cached decoding equals full-sequence decoding (keys are cached unrotated and rotated to their
  place in the window at every step; rotary attention depends only on relative positions).
* **Style**: a label embedding (``num_classes`` styles + a null label for classifier-free
  guidance, dropped to null in training) added to every input token and to the head's
  conditioning. :meth:`style_vector` also accepts mixing weights over the labels, which is how a
  style schedule crossfades from one style to the next.
* **Head**: a rectified-flow MLP per token (:class:`~audiogen.models.sequence_head.FlowHead`),
  sampled in ``head_steps`` Euler steps (MAR / "Continuous Autoregressive Models").
* **Context noise** (CAM, Pasini et al., 2024): in training the input tokens get Gaussian noise of
  a random level in ``[0, context_noise]``, and the level is an input (a learned direction scaled by
  it); generation adds ``inference_noise`` to the tokens it feeds back, so small errors do not
  build up over minutes.
"""

from __future__ import annotations

import functools
import math
from dataclasses import KW_ONLY, dataclass, field

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from audiogen.models.pretrained import PretrainedMixin
from audiogen.models.sequence_head import FlowHead


@dataclass(frozen=True)
class SequenceConfig:
    """Architecture of :class:`LatentSequenceModel`.

    Attributes:
        latent_dim: channels of the latent (the autoencoder's ``latent_dim``).
        frames_per_step: latent frames per token (one backbone step).
        dim: width of the Transformer.
        layers: Transformer blocks.
        heads: attention heads (must divide ``dim``).
        mlp_ratio: hidden width of the blocks' MLP as a multiple of ``dim``.
        context_frames: latent frames a step attends to (the bounded context, a multiple of
            ``frames_per_step``; 216 frames are 10 s at 21.5 latent frames per second).
        num_classes: style labels (0: unconditional). Label ``num_classes`` is the null label.
        class_labels: the label names, index = class (``None``: unnamed).
        head_width: hidden width of the flow head.
        head_layers: residual blocks of the flow head.
        head_steps: default Euler steps of the flow head when sampling.
        head_temperature: default scale of the flow head's starting noise when sampling. Above 1
            the samples spread wider; for the bundled model that keeps streams nearer the level of
            real music, at a cost in FD (docs/generation.md, "Measured").
        context_noise: largest standard deviation of the training noise on the input tokens.
        inference_noise: standard deviation of the noise on tokens fed back while generating.
        self_forcing: training only: the probability that an input token is replaced by the
            model's own one-step prediction of it (parallel scheduled sampling, Duckworth et al.,
            2019), so training sees the kind of error generation feeds back. 0: off.
        self_forcing_steps: Euler steps of the flow head for those predictions.
        latents_mean: per-channel mean of the training latent frames, one row of ``latent_dim``
            values per style and a last row over all of them (``num_classes + 1`` rows; ``None``:
            not measured). Measured by the training stage at every checkpoint; read by the
            stream's statistics guard (:func:`audiogen.pipelines.stream_latent.latent_stream`).
            Stored in the config as diffusers' ``AutoencoderKLWan`` stores ``latents_mean``.
        latents_std: per-channel standard deviation of the same frames, rows as ``latents_mean``.
        stats_guard: default strength of the stream's statistics guard, in ``[0, 1]`` (0: off).
    """

    latent_dim: int = 64
    frames_per_step: int = 2
    context_frames: int = 216
    num_classes: int = 0
    class_labels: tuple[str, ...] | None = None
    dim: int = 256
    layers: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    _: KW_ONLY  # the flow head and the noise levels are given by name
    head_width: int = 256
    head_layers: int = 3
    head_steps: int = 4
    context_noise: float = 0.5
    inference_noise: float = 0.1
    self_forcing: float = 0.0
    self_forcing_steps: int = 4
    head_temperature: float = 1.0
    latents_mean: tuple[tuple[float, ...], ...] | None = None
    latents_std: tuple[tuple[float, ...], ...] | None = None
    stats_guard: float = 0.0

    def __post_init__(self) -> None:
        if self.class_labels is not None:
            object.__setattr__(self, "class_labels", tuple(str(x) for x in self.class_labels))
        self._check_stats()
        for name in (
            "latent_dim", "frames_per_step", "dim", "layers", "heads", "head_width", "head_steps",
            "self_forcing_steps",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"SequenceConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(
                f"SequenceConfig.heads={self.heads} must divide dim={self.dim} into even head widths"
            )
        if self.context_frames % self.frames_per_step or self.context_frames < 2 * self.frames_per_step:
            raise ValueError(
                f"SequenceConfig.context_frames={self.context_frames} must be a multiple of "
                f"frames_per_step={self.frames_per_step} and at least two steps"
            )
        if self.num_classes < 0 or self.head_layers < 0:
            raise ValueError("SequenceConfig.num_classes and head_layers must be >= 0")
        if self.class_labels is not None and len(self.class_labels) != self.num_classes:
            raise ValueError(
                f"SequenceConfig: {len(self.class_labels)} class_labels for num_classes={self.num_classes}"
            )
        if self.context_noise < 0 or self.inference_noise < 0:
            raise ValueError("SequenceConfig.context_noise and inference_noise must be >= 0")
        if not 0.0 < self.head_temperature < float("inf"):
            raise ValueError(f"SequenceConfig.head_temperature must be > 0, got {self.head_temperature}")
        if not 0.0 <= self.self_forcing <= 1.0:
            raise ValueError(f"SequenceConfig.self_forcing must be in [0, 1], got {self.self_forcing}")
        if not 0.0 <= self.stats_guard <= 1.0:
            raise ValueError(f"SequenceConfig.stats_guard must be in [0, 1], got {self.stats_guard}")

    def _check_stats(self) -> None:
        """Store ``latents_mean`` / ``latents_std`` as tuples of tuples; check their shape."""
        rows, cols = self.num_classes + 1, self.latent_dim
        given = [self.latents_mean is not None, self.latents_std is not None]
        if any(given) and not all(given):
            raise ValueError("SequenceConfig: give latents_mean and latents_std together")
        for name in ("latents_mean", "latents_std"):
            value = getattr(self, name)
            if value is None:
                continue
            table = tuple(tuple(float(x) for x in row) for row in value)
            if len(table) != rows or any(len(row) != cols for row in table):
                raise ValueError(
                    f"SequenceConfig.{name} must have num_classes + 1 = {rows} rows of latent_dim = "
                    f"{cols} values"
                )
            if not all(math.isfinite(x) for row in table for x in row):
                raise ValueError(f"SequenceConfig.{name} must be finite")
            object.__setattr__(self, name, table)
        if self.latents_std is not None and min(min(row) for row in self.latents_std) <= 0:
            raise ValueError("SequenceConfig.latents_std must be positive")

    @property
    def context_tokens(self) -> int:
        """Tokens a step attends to, the start token included."""
        return self.context_frames // self.frames_per_step

    @property
    def length_multiple(self) -> int:
        """Latent frames the model works in multiples of (``frames_per_step``)."""
        return self.frames_per_step

    @property
    def token_dim(self) -> int:
        """Size of one token: ``latent_dim * frames_per_step``."""
        return self.latent_dim * self.frames_per_step

    @property
    def null_label(self) -> int:
        """The label index of "no style" (classifier-free guidance's unconditional branch)."""
        return self.num_classes

    def style_statistics(self, weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation ``(latent_dim,)`` of the latent frames of a style mix.

        ``weights``: mixing weights ``(num_classes + 1,)`` over the labels and the null label (as
        :meth:`LatentSequenceModel.style_vector` takes them; ``None``: the null label, i.e. all
        styles). A mix is the mixture of the styles' frames: its mean is the weighted mean and its
        variance the weighted second moment minus the squared mean.

        Raises:
            ValueError: the statistics were never measured (``latents_mean`` is ``None``).
        """
        if self.latents_mean is None or self.latents_std is None:
            raise ValueError(
                "this sequence model has no latent statistics (latents_mean / latents_std); "
                "tools/sequence_stats.py measures them"
            )
        mean, std = torch.tensor(self.latents_mean), torch.tensor(self.latents_std)
        if weights is None:
            return mean[-1], std[-1]
        w = torch.as_tensor(weights, dtype=torch.float32).reshape(-1, 1)
        mixed = (w * mean).sum(0)
        second = (w * (std.square() + mean.square())).sum(0)
        return mixed, (second - mixed.square()).clamp(min=1e-8).sqrt()


@functools.lru_cache(maxsize=16)
def _rotary_table(length: int, half: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos`` and ``sin`` ``(length, half)`` of the rotary angles of positions ``0 .. length - 1``."""
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = torch.arange(length, dtype=torch.float32)[:, None] * freqs
    return torch.cos(angles).to(device), torch.sin(angles).to(device)


def _rotate(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of ``x (..., n, head_dim)`` at integer ``positions`` (``(n,)`` or broadcastable)."""
    half = x.shape[-1] // 2
    length = 1 << max(10, int(positions.max()).bit_length())  # tables of 1024, 2048, ... positions
    cos, sin = _rotary_table(length, half, x.device)
    cos, sin = cos[positions].to(x.dtype), sin[positions].to(x.dtype)
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


class _Block(nn.Module):
    """Pre-norm self-attention (rotary, sink + sliding window) and MLP."""

    def __init__(self, config: SequenceConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.norm1 = nn.LayerNorm(config.dim)
        self.qkv = nn.Linear(config.dim, 3 * config.dim)
        self.proj = nn.Linear(config.dim, config.dim)
        self.norm2 = nn.LayerNorm(config.dim)
        hidden = int(config.dim * config.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(config.dim, hidden), nn.GELU(), nn.Linear(hidden, config.dim))

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k, v = rearrange(
            self.qkv(self.norm1(x)), "b n (three h d) -> three b h n d", three=3, h=self.heads
        )
        return q, k, v

    def _finish(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        x = x + self.proj(rearrange(attended, "b h n d -> b n (h d)"))
        return x + self.mlp(self.norm2(x))

    def forward(self, x: torch.Tensor, window: int) -> torch.Tensor:
        """All positions of ``x (batch, tokens, dim)`` at once (training; position 0 is the start token)."""
        q, k, v = self._qkv(x)
        n = x.shape[1]
        pos = torch.arange(n, device=x.device)
        qr, kr = _rotate(q, pos), _rotate(k, pos)
        scores = qr @ kr.transpose(-1, -2)
        # the start token sits min(i, window - 1) positions before query i
        sink = _rotate(k[:, :, :1], (pos - window + 1).clamp(min=0))  # (b, h, n, d)
        scores[..., 0] = (qr * sink).sum(-1)
        i, j = pos[:, None], pos[None, :]
        allowed = (j <= i) & ((i - j < window - 1) | (j == 0))
        scores = scores.masked_fill(~allowed, float("-inf")) / math.sqrt(q.shape[-1])
        return self._finish(x, torch.softmax(scores.float(), dim=-1).to(v.dtype) @ v)

    def step(self, x: torch.Tensor, cache: list[torch.Tensor], window: int) -> torch.Tensor:
        """One new position ``x (batch, 1, dim)``; ``cache``: [keys, values] unrotated, updated in place."""
        q, k, v = self._qkv(x)
        if cache:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            if k.shape[2] > window:  # drop the oldest token after the start token
                k = torch.cat([k[:, :, :1], k[:, :, 2:]], dim=2)
                v = torch.cat([v[:, :, :1], v[:, :, 2:]], dim=2)
        cache[:] = [k, v]
        n = k.shape[2]
        pos = torch.arange(n, device=x.device)
        attended = F.scaled_dot_product_attention(_rotate(q, pos[-1:]), _rotate(k, pos), v)
        return self._finish(x, attended)


@dataclass
class SequenceState:
    """The generation state of a batch: the KV cache (bounded) and the last conditioning vector.

    Attributes:
        caches: per block ``[keys, values]``, ``(batch, heads, <= context_tokens, head_dim)``.
        hidden: the backbone output ``(batch, dim)`` that conditions the next token.
        tokens: tokens fed so far (the start token included).
    """

    caches: list[list[torch.Tensor]] = field(default_factory=list)
    hidden: torch.Tensor | None = None
    tokens: int = 0


class LatentSequenceModel(PretrainedMixin, nn.Module):
    """Causal Transformer + flow head over latent tokens, sized by ``config`` (a
    :class:`SequenceConfig`); see the module docstring."""

    config_class = SequenceConfig

    def __init__(self, config: SequenceConfig) -> None:
        super().__init__()
        self.config = config
        self.start = nn.Parameter(torch.zeros(config.dim))
        self.input = nn.Linear(config.token_dim, config.dim)
        self.noise_direction = nn.Parameter(torch.zeros(config.dim))
        self.style_embedding = nn.Embedding(config.num_classes + 1, config.dim)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.dim)
        self.head_style = nn.Linear(config.dim, config.dim)
        self.head = FlowHead(config.token_dim, config.dim, config.head_width, config.head_layers)
        nn.init.normal_(self.start, std=0.02)
        nn.init.normal_(self.style_embedding.weight, std=0.02)

    # ------------------------------------------------------------------ tokens and styles
    def tokens(self, latent: torch.Tensor) -> torch.Tensor:
        """Latent ``(batch, latent_dim, latent_frames)`` → tokens ``(batch, steps, token_dim)``.

        Raises:
            ValueError: wrong ``latent_dim`` or ``latent_frames`` not a multiple of ``frames_per_step``.
        """
        cfg = self.config
        if latent.dim() != 3 or latent.shape[1] != cfg.latent_dim or latent.shape[2] % cfg.frames_per_step:
            raise ValueError(
                f"expected a latent (batch, latent_dim={cfg.latent_dim}, latent_frames a multiple of "
                f"{cfg.frames_per_step}), got {tuple(latent.shape)}"
            )
        return rearrange(latent, "b c (n k) -> b n (k c)", k=cfg.frames_per_step)

    def frames(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``(batch, steps, token_dim)`` → latent ``(batch, latent_dim, steps * frames_per_step)``."""
        return rearrange(tokens, "b n (k c) -> b c (n k)", k=self.config.frames_per_step)

    def style_vector(self, style: torch.Tensor | None, batch: int) -> torch.Tensor:
        """The style embedding ``(batch, dim)``.

        ``style``: ``None`` (null label for all), label indices ``(batch,)`` or one (negative: null),
        or mixing weights ``(batch, num_classes + 1)`` over the labels and the null label (rows
        summing to 1; a crossfade between styles).

        Raises:
            ValueError: a label out of range or weights of the wrong width.
        """
        cfg, weight = self.config, self.style_embedding.weight
        if style is None:
            return weight[cfg.null_label].expand(batch, -1)
        style = torch.as_tensor(style, device=weight.device)
        if style.is_floating_point():
            if style.dim() == 1:
                style = style[None]
            if style.shape[-1] != cfg.num_classes + 1:
                raise ValueError(
                    f"style weights need {cfg.num_classes + 1} columns, got {tuple(style.shape)}"
                )
            return (style.to(weight.dtype) @ weight).expand(batch, -1)
        labels = style.long().reshape(-1).expand(batch) if style.numel() == 1 else style.long()
        if bool((labels > cfg.null_label).any()):
            raise ValueError(f"style label out of range (< {cfg.num_classes}), got {labels.tolist()}")
        return self.style_embedding(torch.where(labels < 0, cfg.null_label, labels))

    def _embed(self, tokens: torch.Tensor, style: torch.Tensor, noise_level: torch.Tensor) -> torch.Tensor:
        """Input vectors ``(batch, n, dim)`` of tokens ``(batch, n, token_dim)``, style ``(batch, dim)``."""
        return self.input(tokens) + style[:, None] + noise_level[:, None, None] * self.noise_direction

    def _head_cond(self, hidden: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return hidden + self.head_style(style)

    def _token_conds(self, hidden: torch.Tensor, head_style: torch.Tensor | None) -> torch.Tensor:
        """The flow head's conditioning ``(batch * steps, dim)`` of backbone outputs
        ``hidden (batch, steps, dim)`` with the head's style ``head_style`` (labels or ``None``)."""
        style = self.style_vector(head_style, hidden.shape[0])[:, None].expand_as(hidden)
        return rearrange(self._head_cond(hidden, style), "b n d -> (b n) d")

    # ------------------------------------------------------------------ the full sequence (training)
    def hidden(
        self,
        latent: torch.Tensor,
        style: torch.Tensor | None = None,
        noise_level: torch.Tensor | float = 0.0,
    ) -> torch.Tensor:
        """Backbone outputs ``(batch, steps, dim)``: output ``i`` conditions token ``i`` of ``latent``.

        ``latent (batch, latent_dim, latent_frames)`` is the (possibly noised) sequence; its last
        token is not read (nothing comes after it). ``noise_level``: scalar or ``(batch,)``.
        """
        x = self.tokens(latent)
        batch, n, _ = x.shape
        level = torch.as_tensor(noise_level, dtype=x.dtype, device=x.device).expand(batch)
        style_vec = self.style_vector(style, batch)
        h = torch.cat(
            [self.start.expand(batch, 1, -1) + style_vec[:, None], self._embed(x[:, :-1], style_vec, level)],
            dim=1,
        )
        for block in self.blocks:
            h = block(h, self.config.context_tokens)
        return self.norm(h)

    def forward(
        self,
        latent: torch.Tensor,
        style: torch.Tensor | None = None,
        head_style: torch.Tensor | None = None,
        repeats: int = 4,
    ) -> torch.Tensor:
        """Training loss of ``latent (batch, latent_dim, latent_frames)``: the flow head's MSE.

        ``style`` conditions the backbone, ``head_style`` the head (label indices ``(batch,)``,
        null where dropped; ``None``: all null). Training drops them independently, so the head's
        guidance at generation (conditioned backbone, head with and without the style) is a trained
        case. With ``self_forcing``, in training mode, some input tokens are first replaced by
        the model's own predictions of them (:meth:`self_forced`). The input tokens get noise of a
        random level per item in ``[0, context_noise]`` (the targets stay clean); each token's head
        loss is taken at ``repeats`` flow times.
        """
        clean = self.tokens(latent)
        forcing = self.training and self.config.self_forcing > 0  # validation: the true tokens
        context = self.self_forced(latent, style, head_style) if forcing else latent
        level = torch.rand(latent.shape[0], device=latent.device) * self.config.context_noise
        noisy = context + level[:, None, None] * torch.randn_like(context)
        cond = self._token_conds(self.hidden(noisy, style, level), head_style)
        return self.head.loss(rearrange(clean, "b n t -> (b n) t"), cond, repeats)

    @torch.no_grad()
    def self_forced(
        self, latent: torch.Tensor, style: torch.Tensor | None = None, head_style: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``latent (batch, latent_dim, latent_frames)`` with each token replaced, with probability
        ``self_forcing``, by the model's own prediction of it from the true tokens before it.

        Parallel scheduled sampling (Duckworth et al., 2019, "Parallel Scheduled Sampling"): one
        pass of the backbone over the true sequence gives every token's conditioning at once, the
        flow head samples each token in ``self_forcing_steps`` Euler steps, and the mix is the
        context the training pass reads. Generation feeds back the model's own tokens, which drift
        from the data; this lets training see such inputs while the targets stay the true tokens.
        No gradient flows through the predictions.
        """
        cfg = self.config
        tokens = self.tokens(latent)
        batch, n, _ = tokens.shape
        flat = self._token_conds(self.hidden(latent, style), head_style)
        noise = torch.randn(flat.shape[0], cfg.token_dim, device=latent.device, dtype=tokens.dtype)
        predicted = self.head.sample(flat, cfg.self_forcing_steps, noise)
        predicted = rearrange(predicted, "(b n) t -> b n t", b=batch)
        replace = torch.rand(batch, n, 1, device=latent.device) < cfg.self_forcing
        return self.frames(torch.where(replace, predicted.to(tokens.dtype), tokens))

    # ------------------------------------------------------------------ step by step (generation)
    @torch.no_grad()
    def begin(self, batch: int, style: torch.Tensor | None = None) -> SequenceState:
        """A fresh state: the start token fed (with ``style``, see :meth:`style_vector`)."""
        state = SequenceState(caches=[[] for _ in self.blocks])
        h = (self.start.expand(batch, -1) + self.style_vector(style, batch))[:, None]
        self._advance(state, h)
        return state

    def _advance(self, state: SequenceState, h: torch.Tensor) -> None:
        for block, cache in zip(self.blocks, state.caches, strict=True):
            h = block.step(h, cache, self.config.context_tokens)
        state.hidden = self.norm(h)[:, 0]
        state.tokens += 1

    @torch.no_grad()
    def feed(
        self, state: SequenceState, token: torch.Tensor, style: torch.Tensor | None = None, level: float = 0.0
    ) -> SequenceState:
        """Append ``token (batch, token_dim)`` (as is: add noise before calling) at noise ``level``."""
        batch = token.shape[0]
        levels = torch.full((batch,), float(level), dtype=token.dtype, device=token.device)
        self._advance(state, self._embed(token[:, None], self.style_vector(style, batch), levels))
        return state

    @torch.no_grad()
    def sample_token(
        self,
        state: SequenceState,
        noise: torch.Tensor,
        style: torch.Tensor | None = None,
        cfg_scale: float = 1.0,
        steps: int | None = None,
    ) -> torch.Tensor:
        """The next token ``(batch, token_dim)`` from ``noise (batch, token_dim)`` by the flow head.

        The conditioning is the state's last backbone output plus the current ``style``; with
        ``cfg_scale != 1`` the head is guided away from the null style.
        """
        assert state.hidden is not None, "begin() first"
        batch = state.hidden.shape[0]
        cond = self._head_cond(state.hidden, self.style_vector(style, batch))
        uncond = self._head_cond(state.hidden, self.style_vector(None, batch)) if cfg_scale != 1.0 else None
        return self.head.sample(cond, steps or self.config.head_steps, noise, uncond, cfg_scale)


__all__ = ["LatentSequenceModel", "SequenceConfig", "SequenceState"]
