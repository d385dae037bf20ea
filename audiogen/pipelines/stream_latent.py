"""The latent side of streaming: the sequence model's generation loop and style schedules.

* :func:`parse_schedule`: ``"organ@0,strings@90"`` → :class:`StyleSchedule` (style changes at
  given seconds, each a crossfade of the style embedding over ``fade_seconds``).
* :func:`latent_stream`: an endless iterator of latent tokens ``(batch, latent_dim,
  frames_per_step)`` from a :class:`~audiogen.models.sequence.LatentSequenceModel` (KV cache with a
  bounded window, so memory and time per step are constant), optionally continuing a prompt latent;
  deterministic for a seed (one CPU generator draws every noise).
* :class:`StatsGuard`: keeps the stream's latent statistics near the style's training statistics.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class StyleSchedule:
    """Styles over time: ``styles[i]`` from ``times[i]`` seconds on (``times[0] == 0``).

    Attributes:
        styles: style names (``None``: no style, the null label).
        times: start times in seconds, strictly increasing, the first 0.
        fade_seconds: length of the crossfade of the style embedding at each change.
    """

    styles: tuple[str | None, ...]
    times: tuple[float, ...]
    fade_seconds: float = 4.0

    def weights(self, seconds: float, labels: Sequence[str]) -> torch.Tensor:
        """Mixing weights ``(len(labels) + 1,)`` over the labels and the null label at ``seconds``."""

        def one_hot(style: str | None) -> torch.Tensor:
            w = torch.zeros(len(labels) + 1)
            w[labels.index(style) if style is not None else len(labels)] = 1.0
            return w

        index = max(i for i, t in enumerate(self.times) if t <= seconds)
        w = one_hot(self.styles[index])
        if index > 0 and self.fade_seconds > 0:
            u = (seconds - self.times[index]) / self.fade_seconds
            if u < 1.0:
                w = u * w + (1 - u) * one_hot(self.styles[index - 1])
        return w


_ITEM = re.compile(r"^\s*([^@]*?)\s*(?:@\s*([^@]*?)\s*)?$")


def parse_schedule(text: str | None, labels: Sequence[str], fade_seconds: float = 4.0) -> StyleSchedule:
    """Parse ``"organ"`` or ``"organ@0,strings@90"`` (style@seconds, comma-separated).

    A single style without ``@`` holds for the whole stream; an empty text or ``None`` is no style.

    Raises:
        ValueError: an unknown style (lists the known ones), a time that is not a number, times not
            strictly increasing, or a first time other than 0.
    """
    if text is None or not text.strip():
        return StyleSchedule((None,), (0.0,), fade_seconds)
    styles: list[str | None] = []
    times: list[float] = []
    for item in text.split(","):
        match = _ITEM.match(item)
        name, when = (match.group(1), match.group(2)) if match else (item, None)
        if name not in labels:
            raise ValueError(f"unknown style {name!r} in the schedule {text!r}; known: {', '.join(labels)}")
        try:
            seconds = 0.0 if when is None and not times else float(when)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(
                f"style {name!r} in {text!r}: give a time in seconds as {name}@SECONDS"
            ) from None
        if times and seconds <= times[-1]:
            raise ValueError(
                f"schedule {text!r}: times must increase ({name}@{seconds:g} comes after @{times[-1]:g})"
            )
        styles.append(name)
        times.append(seconds)
    if times[0] != 0:
        raise ValueError(f"schedule {text!r}: the first style must start at 0 (got @{times[0]:g})")
    return StyleSchedule(tuple(styles), tuple(times), fade_seconds)


#: time constant (seconds) of the running statistics :class:`StatsGuard` compares with the style's
GUARD_SECONDS = 10.0


class StatsGuard:
    """Keeps a stream's per-channel latent statistics near the style's training statistics.

    A free-running sequence model can slide into states its training data rarely holds (for the
    bundled model: quiet, smeared stretches that last; docs/generation.md, "Measured"). The guard
    keeps running means ``m`` and standard deviations ``s`` per latent channel of the frames the
    model samples (exponential averages with a time constant of :data:`GUARD_SECONDS`, starting at
    the target) and maps every new frame ``x`` to

        ``m + (x - m) * clamp(std / s, 1/2, 2) ** strength + strength * (mean - m)``

    where ``mean`` and ``std`` are the style's (:meth:`SequenceConfig.style_statistics
    <audiogen.models.sequence.SequenceConfig.style_statistics>`, a crossfade mixing them). Strength 1
    holds the running statistics at the style's; 0 changes nothing. Frames that already follow the
    style's statistics pass nearly unchanged, and the mapped frames are what is decoded and fed back.
    The same idea as the rescaled guidance of Lin et al. (2024), "Common Diffusion Noise Schedules
    and Sample Steps are Flawed", which matches a sample's standard deviation to a reference's
    inside the sampling loop.

    Args:
        config: the model's :class:`~audiogen.models.sequence.SequenceConfig` (with statistics).
        strength: in ``[0, 1]``.
        seconds_per_token: audio seconds per token (sets the averaging weight per token).

    Raises:
        ValueError: ``strength`` outside ``[0, 1]``, or a model without latent statistics.
    """

    def __init__(self, config: object, strength: float, seconds_per_token: float) -> None:
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"stats_guard must be in [0, 1], got {strength}")
        self.config, self.strength = config, float(strength)
        self.rate = 1.0 - math.exp(-seconds_per_token / GUARD_SECONDS)
        self.mean: torch.Tensor | None = None
        self.second: torch.Tensor | None = None
        config.style_statistics(None)  # type: ignore[attr-defined]  # raises without statistics
        self._target: tuple[torch.Tensor | None, torch.Tensor, torch.Tensor] | None = None

    def _style_target(self, weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The style mix's mean and std, recomputed only when the mix changes (a crossfade)."""
        last = self._target
        same = last is not None and (
            (weights is None and last[0] is None)
            or (weights is not None and last[0] is not None and torch.equal(weights, last[0]))
        )
        if not same:
            mean, std = self.config.style_statistics(weights)  # type: ignore[attr-defined]
            self._target = (None if weights is None else weights.clone(), mean, std)
        assert self._target is not None
        return self._target[1], self._target[2]

    def __call__(self, frames: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        """Map ``frames (batch, latent_dim, frames_per_step)``; ``weights``: the style mix."""
        target_mean, target_std = self._style_target(weights)
        target_mean, target_std = target_mean.to(frames), target_std.to(frames)
        if self.mean is None or self.second is None:  # start at the style's statistics
            self.mean, self.second = target_mean, target_std.square() + target_mean.square()
        x = frames.float()
        self.mean = (1 - self.rate) * self.mean + self.rate * x.mean(dim=(0, 2))
        self.second = (1 - self.rate) * self.second + self.rate * x.square().mean(dim=(0, 2))
        std = (self.second - self.mean.square()).clamp(min=1e-8).sqrt()
        ratio = (target_std / std).clamp(0.5, 2.0) ** self.strength
        m = self.mean[None, :, None]
        out = m + (x - m) * ratio[None, :, None] + self.strength * (target_mean - self.mean)[None, :, None]
        return out.to(frames.dtype)


@torch.no_grad()
def latent_stream(
    model: torch.nn.Module,
    schedule: StyleSchedule,
    seed: int = 0,
    cfg_scale: float = 1.0,
    head_steps: int | None = None,
    prompt: torch.Tensor | None = None,
    frame_rate: float = 21.533203125,
    temperature: float | None = None,
    stats_guard: float | None = None,
) -> Iterator[torch.Tensor]:
    """Endless latent tokens ``(1, latent_dim, frames_per_step)`` from the sequence ``model``.

    Args:
        model: a :class:`~audiogen.models.sequence.LatentSequenceModel` (eval mode).
        schedule: the styles over time (times in seconds of generated latent).
        seed: seeds the one CPU generator that draws every head noise and context noise.
        cfg_scale: guidance of the flow head towards the style (1: none).
        head_steps: Euler steps of the flow head (``None``: the model's ``head_steps``).
        prompt: latent ``(1, latent_dim, frames)`` to continue from: its last ``context_frames``
            (whole tokens) are fed as context first; not yielded again.
        frame_rate: latent frames per second (for the schedule's times).
        temperature: scale of the flow head's starting noise (``None``: the model's
            ``head_temperature``).
        stats_guard: strength of the :class:`StatsGuard` in ``[0, 1]`` (``None``: the model's
            ``stats_guard``; 0: off).

    Raises:
        ValueError: a guard is asked of a model without latent statistics (before the first token).
    """
    cfg = model.config
    labels = list(cfg.class_labels or [])
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(int(seed))
    seconds_per_token = cfg.frames_per_step / frame_rate
    temperature = cfg.head_temperature if temperature is None else float(temperature)
    strength = cfg.stats_guard if stats_guard is None else float(stats_guard)
    guard = StatsGuard(cfg, strength, seconds_per_token) if strength > 0 else None

    def style_at(t: float) -> torch.Tensor:
        return schedule.weights(t, labels)[None].to(device) if labels else None

    style = style_at(0.0)
    state = model.begin(1, style)
    if prompt is not None:
        usable = prompt.shape[-1] // cfg.frames_per_step * cfg.frames_per_step
        keep = min(usable, cfg.context_frames - cfg.frames_per_step)
        tokens = model.tokens(prompt[..., usable - keep : usable].to(device).float())
        for i in range(tokens.shape[1]):
            model.feed(state, tokens[:, i], style, 0.0)
    step = 0
    while True:
        style = style_at(step * seconds_per_token)
        noise = torch.randn(1, cfg.token_dim, generator=generator).to(device) * temperature
        token = model.sample_token(state, noise, style, cfg_scale, head_steps)
        frames = model.frames(token[:, None])
        if guard is not None:
            weights = style[0] if style is not None else None
            frames = guard(frames, weights)
            token = model.tokens(frames)[:, 0]
        yield frames
        level = cfg.inference_noise
        if level > 0:
            token = token + level * torch.randn(token.shape, generator=generator).to(device)
        model.feed(state, token, style, level)
        step += 1


__all__ = ["GUARD_SECONDS", "StatsGuard", "StyleSchedule", "latent_stream", "parse_schedule"]
