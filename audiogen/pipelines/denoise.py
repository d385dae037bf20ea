"""The reverse diffusion process: initial latents, then the sampler loop with classifier-free guidance.

:func:`prepare_latents` draws the starting noise, :func:`denoise_loop` runs a sampler
(:func:`audiogen.samplers.factory.make_sampler`, the ports of :mod:`audiogen.samplers`) over its
timesteps with the latent denoiser (:class:`~audiogen.models.denoiser.LatentDenoiser`), and
:func:`sample_latents` / :func:`noise_and_denoise` (SDEdit variation) put the two together for
callers that have no pipeline (training samples, long-form windows). :meth:`AudioGenPipeline.__call__
<audiogen.pipelines.audiogen.AudioGenPipeline.__call__>` runs the same steps one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (CPU if it has none)."""
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def item_generators(seed: int, num: int) -> list[torch.Generator]:
    """One CPU generator per batch item, item ``i`` seeded ``seed + i`` (so an item does not depend
    on the batch size)."""
    return [torch.Generator("cpu").manual_seed(seed + i) for i in range(num)]


def as_labels(labels: int | Sequence[int] | torch.Tensor | None, batch: int, device: torch.device):
    """Class labels ``(batch,)`` on ``device`` from one int, a sequence or a tensor (``None``: none)."""
    if labels is None:
        return None
    labels = torch.as_tensor(labels, device=device).long().reshape(-1)
    if labels.numel() == 1:
        labels = labels.expand(batch)
    if labels.shape[0] != batch:
        raise ValueError(f"got {labels.shape[0]} labels for a batch of {batch}")
    return labels


def prepare_latents(
    scheduler: Any,
    shape: tuple[int, ...],
    generator: torch.Generator | list[torch.Generator] | None,
    device: torch.device,
) -> torch.Tensor:
    """The starting latents: float32 noise ``shape`` from ``generator`` times ``init_noise_sigma``.

    ``shape`` is ``(batch, latent_dim, latent_frames)``; a list of generators draws item ``i``
    from generator ``i`` (so an item does not depend on the batch size). Call after
    ``scheduler.set_timesteps`` (some schedulers' ``init_noise_sigma`` depend on the steps).
    """
    from audiogen.samplers import randn

    x = randn(shape, generator, device, torch.float32)
    return x * scheduler.init_noise_sigma


@torch.no_grad()
def denoise_loop(
    denoiser: nn.Module,
    scheduler: Any,
    x: torch.Tensor,
    timesteps: torch.Tensor,
    labels: torch.Tensor | None,
    cfg_scale: float,
    generator: torch.Generator | None,
    circular: bool,
    progress: bool,
    uncond_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run ``scheduler`` over ``timesteps`` from ``x (batch, latent_dim, latent_frames)``; the denoised ``x``.

    Per step: ``scheduler.scale_model_input``, one denoiser pass (:func:`guided_prediction`: with
    ``labels`` and ``cfg_scale != 1``, the conditional and unconditional halves in one batch,
    combined as ``uncond + cfg_scale * (cond - uncond)``; the unconditional half has
    ``uncond_labels``, by default the denoiser's null label), ``scheduler.step``. Shared by
    :meth:`AudioGenPipeline.__call__ <audiogen.pipelines.audiogen.AudioGenPipeline.__call__>`,
    :func:`sample_latents` and :func:`noise_and_denoise`.
    """
    from tqdm.auto import tqdm

    both_labels = cfg_labels(denoiser, labels, cfg_scale, uncond_labels)
    for t in tqdm(timesteps, desc="denoise", leave=False, disable=not progress):
        model_input = scheduler.scale_model_input(x, t)
        prediction = guided_prediction(denoiser, model_input, t, labels, both_labels, cfg_scale, circular)
        x = scheduler.step(prediction, t, x, generator=generator).prev_sample
    return x


def cfg_labels(
    denoiser: Any, labels: torch.Tensor | None, cfg_scale: float, uncond_labels: torch.Tensor | None = None
) -> torch.Tensor | None:
    """The labels ``(2 * batch,)`` of a guided pass: ``labels``, then those of the unconditional
    branch (``uncond_labels``, by default the denoiser's null label); ``None`` when there is no
    guidance (no labels, or ``cfg_scale == 1``)."""
    if labels is None or cfg_scale == 1.0:
        return None
    if uncond_labels is None:
        uncond_labels = torch.full_like(labels, denoiser.config.null_label)
    return torch.cat([labels, uncond_labels])


def guided_prediction(
    denoiser: Any,
    model_input: torch.Tensor,
    t: torch.Tensor,
    labels: torch.Tensor | None,
    both_labels: torch.Tensor | None,
    cfg_scale: float,
    circular: bool = False,
) -> torch.Tensor:
    """One float32 prediction ``(batch, latent_dim, frames)`` at timestep ``t``.

    With ``both_labels`` (:func:`cfg_labels`): classifier-free guidance (Ho & Salimans, 2022), the
    conditional and unconditional halves in one batched pass, ``uncond + cfg_scale * (cond -
    uncond)``; otherwise one pass with ``labels`` (``None``: unconditional).
    """
    batch = model_input.shape[0]
    if both_labels is not None:
        t_batch = t.to(model_input.device).expand(2 * batch)
        out = denoiser(torch.cat([model_input, model_input]), t_batch, both_labels, circular=circular)
        cond, uncond = out.float().chunk(2)
        return uncond + cfg_scale * (cond - uncond)
    return denoiser(model_input, t.to(model_input.device).expand(batch), labels, circular=circular).float()


def check_pair(denoiser: nn.Module, scheduler: Any, channels: int) -> None:
    cfg = denoiser.config
    if channels != cfg.latent_dim:
        raise ValueError(
            f"latent shape has {channels} channels, the denoiser expects latent_dim={cfg.latent_dim}"
        )
    if scheduler.config.prediction_type != cfg.prediction_type:
        raise ValueError(
            f"the scheduler expects {scheduler.config.prediction_type!r} predictions but the denoiser was "
            f"trained for {cfg.prediction_type!r}; build the scheduler with "
            "make_sampler(name, denoiser.config)"
        )
    if scheduler.config.num_train_timesteps != cfg.num_train_timesteps:
        raise ValueError(
            f"scheduler has num_train_timesteps={scheduler.config.num_train_timesteps}, the denoiser "
            f"{cfg.num_train_timesteps}"
        )


def sample_latents(
    denoiser: nn.Module,
    scheduler: Any,
    shape: Sequence[int],
    labels: int | Sequence[int] | torch.Tensor | None = None,
    cfg_scale: float = 1.0,
    generator: torch.Generator | None = None,
    circular: bool = False,
    progress: bool = True,
    num_inference_steps: int = 25,
    uncond_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generate latents ``(batch, latent_dim, latent_frames)`` from pure noise.

    Starts from ``noise * scheduler.init_noise_sigma`` and runs ``num_inference_steps`` steps of
    ``scheduler`` (which scales the model input where it needs to, e.g. Euler's
    ``1 / sqrt(sigma² + 1)``). With ``labels`` and ``cfg_scale != 1`` it applies classifier-free
    guidance ``uncond + cfg_scale * (cond - uncond)`` (Ho & Salimans, 2022), the conditional and
    null-label halves in one batched forward pass.

    Args:
        denoiser: a :class:`~audiogen.models.denoiser.LatentDenoiser` (anything with its ``config``
            and call signature).
        scheduler: a diffusers scheduler from :func:`~audiogen.samplers.factory.make_sampler` (its state
            is reset here).
        shape: ``(batch, latent_dim, latent_frames)``.
        labels: style label(s) ``(batch,)`` or one int for all; ``None``: unconditional.
        cfg_scale: guidance scale (1: no guidance, one forward pass per step).
        generator: torch generator of the initial noise (and of stochastic samplers); same seed →
            same latents.
        circular: wrap-around context for seamless loops (see the module docstring).
        progress: tqdm progress bar over steps.
        num_inference_steps: sampler steps.
        uncond_labels: labels ``(batch,)`` of guidance's unconditional branch (``None``: the null
            label).

    Returns:
        float32 latents ``(batch, latent_dim, latent_frames)`` on the denoiser's device, on the
        scale of the autoencoder's scaled latents (decode with ``autoencoder.decode``).

    Raises:
        ValueError: bad shape, a scheduler for another prediction type, or as the denoiser raises.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be (batch, latent_dim, latent_frames) with positive sizes, got {shape}")
    check_pair(denoiser, scheduler, shape[1])
    device = module_device(denoiser)
    scheduler.set_timesteps(num_inference_steps, device=device)
    x = prepare_latents(scheduler, shape, generator, device)
    labels_t = as_labels(labels, shape[0], device)
    return denoise_loop(
        denoiser, scheduler, x, scheduler.timesteps, labels_t, cfg_scale, generator, circular, progress,
        uncond_labels,
    )  # fmt: skip


def noise_and_denoise(
    denoiser: nn.Module,
    scheduler: Any,
    latent: torch.Tensor,
    strength: float,
    labels: int | Sequence[int] | torch.Tensor | None = None,
    cfg_scale: float = 1.0,
    generator: torch.Generator | None = None,
    circular: bool = False,
    progress: bool = True,
    num_inference_steps: int = 25,
    uncond_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Audio-to-audio variation: noise an encoded latent to ``strength``, then denoise from there.

    As SDEdit (Meng et al., 2022) / diffusers' img2img ``get_timesteps``: of ``num_inference_steps``
    sampler steps the last ``round(strength * num_inference_steps)`` are run, starting from
    ``scheduler.add_noise(latent, noise, first of those timesteps)`` (for a rectified-flow model
    the flow's ``(1 - t) latent + t noise``). ``strength`` 0 returns the latent unchanged; 1 starts
    from (nearly) pure noise.

    Args:
        denoiser, scheduler, labels, cfg_scale, generator, circular, progress, num_inference_steps,
            uncond_labels: as :func:`sample_latents`.
        latent: scaled latent of the source audio ``(batch, latent_dim, latent_frames)``
            (``autoencoder.encode(mel)``).
        strength: in ``[0, 1]``, how far to move away from the source.

    Returns:
        float32 latents ``(batch, latent_dim, latent_frames)``.

    Raises:
        ValueError: ``strength`` outside ``[0, 1]``, or as :func:`sample_latents`.
    """
    from audiogen.samplers import randn

    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    if latent.dim() != 3:
        raise ValueError(f"latent must be (batch, latent_dim, latent_frames), got {tuple(latent.shape)}")
    check_pair(denoiser, scheduler, latent.shape[1])
    device = module_device(denoiser)
    latent = latent.to(device=device, dtype=torch.float32)
    scheduler.set_timesteps(num_inference_steps, device=device)
    run = min(round(num_inference_steps * strength), num_inference_steps)
    if run == 0:
        return latent.clone()
    begin = (num_inference_steps - run) * scheduler.order
    timesteps = scheduler.timesteps[begin:]
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(begin)
    noise = randn(tuple(latent.shape), generator, device, torch.float32)
    x = scheduler.add_noise(latent, noise, timesteps[:1].repeat(latent.shape[0]))
    labels_t = as_labels(labels, latent.shape[0], device)
    return denoise_loop(
        denoiser, scheduler, x, timesteps, labels_t, cfg_scale, generator, circular, progress, uncond_labels
    )
