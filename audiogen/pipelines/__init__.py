"""Pipelines: trained stages composed into one object that generates, loops and edits audio.

- :mod:`audiogen.pipelines.sampling`: :class:`SamplingConfig`, the settings every generating call
  takes (seed, steps, CFG scale, style, sampler, progress).
- :mod:`audiogen.pipelines.audiogen`: :class:`AudioGenPipeline` (check inputs once, denoise,
  decode, vocode: generate, loop, variation, extend, inpaint), :func:`load_pretrained`.
- :mod:`audiogen.pipelines.stages`: the stages it holds, their geometry and their folder (through
  :mod:`audiogen.hub`).
- :mod:`audiogen.pipelines.denoise`: the reverse-process loop with classifier-free guidance.
- :mod:`audiogen.pipelines.windows`: long audio in bounded memory (windowed denoising, chunked
  encoding, decoding and vocoding).
- :mod:`audiogen.pipelines.loop`: seamless loops; :mod:`audiogen.pipelines.inpaint`: extend /
  inpaint by latent replacement; :mod:`audiogen.pipelines.lora`: LoRA adapters.
- :mod:`audiogen.pipelines.checks`: the input checks the command line and the web app share.
- :mod:`audiogen.pipelines.outputs`: result types.

Names are imported on first use (PEP 562), so importing a submodule stays light.
"""

_LAZY = {
    "AudioGenPipeline": "audiogen.pipelines.audiogen",
    "load_pretrained": "audiogen.pipelines.audiogen",
    "SamplingConfig": "audiogen.pipelines.sampling",
    "GenerationResult": "audiogen.pipelines.outputs",
    "LoopResult": "audiogen.pipelines.outputs",
    "StageTimings": "audiogen.pipelines.outputs",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    """Import a public name from its submodule on first use.

    Raises:
        AttributeError: for any other name.
    """
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'audiogen.pipelines' has no attribute {name!r}")
