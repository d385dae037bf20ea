"""The generation pipeline's public names, importable from here (the code is :mod:`audiogen.pipelines`).

``from audiogen.pipeline import AudioGenPipeline, load_pretrained`` keeps working; the pipeline
is :mod:`audiogen.pipelines.audiogen`, its results :mod:`audiogen.pipelines.outputs`, loops
:mod:`audiogen.pipelines.loop` (their seams :mod:`audiogen.boundaries`), and the folder constants
:mod:`audiogen.hub`.
"""

from audiogen.boundaries import SeamReport, seam_report
from audiogen.hub import DEFAULT_CFG_SCALE, MODEL_INDEX_NAME
from audiogen.pipelines.audiogen import AudioGenPipeline, default_model_dir, load_pretrained
from audiogen.pipelines.loop import conv_context, loop_samples, periodic_resample, periodic_stretch
from audiogen.pipelines.outputs import GenerationResult, LoopResult, StageTimings

__all__ = [
    "DEFAULT_CFG_SCALE",
    "MODEL_INDEX_NAME",
    "AudioGenPipeline",
    "GenerationResult",
    "LoopResult",
    "SeamReport",
    "StageTimings",
    "conv_context",
    "default_model_dir",
    "load_pretrained",
    "loop_samples",
    "periodic_resample",
    "periodic_stretch",
    "seam_report",
]
