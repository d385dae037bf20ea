"""Audio-to-audio on :class:`~audiogen.pipelines.audiogen.AudioGenPipeline`: variation, extend, inpaint.

Variation (:meth:`EditMixin.variation`) follows SDEdit (Meng et al., 2022): encode, noise to
``strength``, denoise (:func:`~audiogen.pipelines.denoise.noise_and_denoise`), decode, vocode.
Extending and inpainting are :mod:`audiogen.pipelines.inpaint` (windowed over long inputs by
:mod:`audiogen.pipelines.longform`); the methods here hand the pipeline to it.
:meth:`EditMixin.detect_style` names the style a style classifier hears in an input, so an edit
can be conditioned on the style of the audio it continues (``audiogen extend --style auto``).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from audiogen.pipelines.outputs import GenerationResult, StageTimings, _sync


class EditMixin:
    """``variation``, ``extend`` and ``inpaint`` methods of the pipeline (see the module docstring)."""

    autoencoder: Any
    denoiser: Any
    scheduler: Any
    vocoder: Any
    mel_config: Any

    @torch.no_grad()
    def variation(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        strength: float = 0.5,
        seed: int = 0,
        steps: int | None = None,
        cfg_scale: float | None = None,
        style: str | None = None,
        sampler: str = "dpm++",
        progress: bool = True,
    ) -> GenerationResult:
        """A variation of ``waveform``: encode, noise to ``strength``, denoise, decode, vocode (SDEdit).

        The input is mixed to mono and resampled to the model's rate (libsoxr); its log-mel is
        encoded to the posterior mean, :func:`~audiogen.pipelines.denoise.noise_and_denoise` runs the
        last ``round(strength * steps)`` sampler steps, and the result is decoded and vocoded to
        the (resampled) input's length.

        Args:
            waveform: ``(samples,)`` or ``(channels, samples)`` float audio.
            sample_rate: its rate in Hz.
            strength: in [0, 1]; 0 = the input's reconstruction, 1 = a new clip of the same length.
            seed, steps, cfg_scale, style, sampler, progress: as :meth:`__call__`.

        Returns:
            :class:`GenerationResult` with ``waveforms (1, 1, n)`` at the model's rate, ``n`` the
            input's length at that rate (equal to the input's sample count when the rates agree).

        Raises:
            ValueError: bad shape or rate, ``strength`` outside [0, 1], fewer samples than one mel
                frame's hop, or as :meth:`__call__`.
        """
        from audiogen.audio.features import LogMelSpectrogram
        from audiogen.audio.io import convert_channels, resample
        from audiogen.pipelines.denoise import noise_and_denoise
        from audiogen.samplers.factory import make_sampler

        if waveform.dim() == 1:
            waveform = waveform[None]
        if waveform.dim() != 2 or not waveform.is_floating_point():
            raise ValueError(
                f"variation: waveform must be float (samples,) or (channels, samples), got "
                f"{tuple(waveform.shape)} {waveform.dtype}"
            )
        steps = self.resolve_steps(steps)
        cfg_scale, label = self.check_inputs(
            None, 1, steps, cfg_scale, seed, style, sampler, strength=strength
        )
        device, timings = self.device, StageTimings()
        start = time.perf_counter()
        mono = resample(convert_channels(waveform.float().cpu(), 1), sample_rate, self.sample_rate)
        num_samples = mono.shape[-1]
        if num_samples < self.hop_length:
            raise ValueError(
                f"variation: the input is too short ({num_samples} samples at {self.sample_rate} Hz)"
            )
        mel = LogMelSpectrogram(self.mel_config).to(device)(mono.to(device)).mel  # (1, n_mels, frames)
        # encoder, decoder and vocoder in chunks: memory bounded whatever the input's length
        from audiogen.pipelines.windows import decode_chunked, encode_chunked, vocode_chunked

        latent = encode_chunked(self, mel)
        del mono
        _sync(device)
        t0 = time.perf_counter()
        latents = noise_and_denoise(
            self.denoiser,
            make_sampler(sampler, self.scheduler),
            latent,
            strength,
            labels=label,
            cfg_scale=cfg_scale,
            generator=self._generators(seed, 1),
            progress=progress,
            num_inference_steps=steps,
        )
        _sync(device)
        t1 = time.perf_counter()
        out_mel = decode_chunked(self, latents)[..., : mel.shape[-1]]
        _sync(device)
        t2 = time.perf_counter()
        wav = vocode_chunked(self, out_mel.float())[0][..., :num_samples]
        _sync(device)
        t3 = time.perf_counter()
        timings.encode, timings.denoise, timings.decode = t0 - start, t1 - t0, t2 - t1
        timings.vocode, timings.total = t3 - t2, t3 - start
        return GenerationResult(
            waveforms=wav.float().cpu(),
            sample_rate=self.sample_rate,
            latents=latents.float().cpu(),
            mels=out_mel.float().cpu(),
            seeds=[seed],
            style=style,
            timings=timings,
        )

    @torch.no_grad()
    def detect_style(self, waveform: torch.Tensor, sample_rate: int, classifier: Any) -> str | None:
        """The style ``classifier`` hears in ``waveform``, if this model can generate it, else ``None``.

        The batch is mixed to one channel and resampled to the classifier's rate; the
        classifier's class probabilities (softmax of its logits over the whole clip) are averaged
        over the batch and the most probable label is returned when it is one of :attr:`styles`
        (a model fine-tuned on other styles, or an unconditional one, gets ``None``: generate
        unconditionally).

        Args:
            waveform: ``(batch, channels, samples)`` float audio.
            sample_rate: its rate in Hz.
            classifier: a :class:`~audiogen.models.classifier.StyleClassifier`, or its model folder
                (``config.json`` + ``model.safetensors``, e.g. a pipeline folder's ``classifier/``).

        Raises:
            ValueError: a bad shape or rate; FileNotFoundError / ValueError from loading a folder.
        """
        from audiogen.audio.features import LogMelSpectrogram
        from audiogen.audio.io import resample
        from audiogen.models.classifier import StyleClassifier
        from audiogen.pipelines.inpaint import prepare_input

        mono = prepare_input(self, waveform, sample_rate)  # (batch, 1, samples) at the model's rate; checks
        if not isinstance(classifier, StyleClassifier):
            classifier = StyleClassifier.from_pretrained(classifier)
        model, mel_config = classifier.eval(), classifier.config.mel
        device = next(model.parameters()).device
        mono = resample(mono, self.sample_rate, mel_config.sample_rate)
        mel = LogMelSpectrogram(mel_config).to(device)(mono[:, 0].to(device)).mel  # (batch, n_mels, frames)
        probabilities = model(mel).logits.float().softmax(dim=-1).mean(dim=0)
        label = model.labels[int(probabilities.argmax())]
        return label if label in self.styles else None

    def extend(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        seconds: float = 0.0,
        before: float = 0.0,
        **kwargs: Any,
    ) -> Any:
        """Continue ``waveform (batch, channels, samples)``: ``seconds`` after it, ``before`` seconds before.

        See :func:`audiogen.pipelines.inpaint.extend` (keyword arguments, result, errors).
        """
        from audiogen.pipelines.inpaint import extend

        return extend(self, waveform, sample_rate, seconds, before, **kwargs)

    def inpaint(
        self, waveform: torch.Tensor, sample_rate: int, start: float, end: float, **kwargs: Any
    ) -> Any:
        """Regenerate ``[start, end)`` seconds of ``waveform (batch, channels, samples)``, keep the rest.

        See :func:`audiogen.pipelines.inpaint.inpaint` (keyword arguments, result, errors).
        """
        from audiogen.pipelines.inpaint import inpaint

        return inpaint(self, waveform, sample_rate, start, end, **kwargs)
