"""The one loading path: find a model, checkpoint, run or pipeline folder, and load what it holds.

Every saved stage is a *model folder* (no pickle anywhere)::

    config.json         {"class": "MelVAE", "audiogen_version": "...", "config": {...dataclass fields...}}
    model.safetensors   the module's ``state_dict()`` (parameters and persistent buffers)

and a *pipeline folder* holds one per stage, named by ``model_index.json``::

    model_index.json    stages → {"subfolder", "class"}, version, mel front end, latent layout,
                        styles, generation defaults
    autoencoder/  denoiser/  vocoder/     model folders
    scheduler/          scheduler_config.json (diffusers)

What lives here, and nowhere else:

* where things are: :data:`DEFAULT_PIPELINE` (the bundled model), :func:`find_model_folder` (a
  model, pipeline, checkpoint or training run folder → the model folder of one stage),
  :func:`find_pipeline_folder`;
* what a class name means: :data:`MODEL_CLASSES` (the ``class`` of ``config.json`` and
  ``model_index.json``'s ``stages.*.class``) and :data:`SCHEDULER_CLASSES` (diffusers'
  ``_class_name``), one table each, the class imported on first use (:func:`model_class`,
  :func:`scheduler_class`);
* reading: :func:`read_json`, :func:`read_model_config`;
* loading: :func:`load_model` (whichever class ``config.json`` names, checked against the class
  the caller expects, then that class's ``from_pretrained``: config checked, model built on the
  meta device without initialising it and compared with the safetensors header, weights checked
  finite and assigned in place), :func:`load_scheduler` (the training noise schedule, read
  without diffusers), and :func:`load_pipeline_stages` (``model_index.json``: each
  stage loaded as the class it records; subfolders that leave the pipeline folder are refused);
* writing a pipeline folder: :func:`save_pipeline_folder`.

This module imports only the standard library at import time; torch and safetensors are imported
when something is loaded, diffusers only for a scheduler class outside :data:`SCHEDULER_CLASSES`.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MODEL_INDEX_NAME = "model_index.json"
SCHEDULER_CONFIG_NAME = "scheduler_config.json"
MODEL_CARD_NAME = "MODEL_CARD.md"
#: Stage name → subfolder of a pipeline folder.
STAGES = ("autoencoder", "denoiser", "scheduler", "vocoder")
#: CFG scale of pipeline folders whose ``model_index.json`` records none (written before it did).
DEFAULT_CFG_SCALE = 3.0
#: Sampler steps of pipeline folders whose ``model_index.json`` records none (``generation.steps``).
DEFAULT_STEPS = 25

#: The bundled default pipeline folder, ``audiogen/assets/default`` (package data). It may not
#: exist (e.g. before the default model is trained); :func:`find_pipeline_folder` then says so.
DEFAULT_PIPELINE = Path(__file__).resolve().parent / "assets" / "default"

#: Class name (``config.json``'s ``class``, ``model_index.json``'s ``stages.*.class``) → the module
#: that defines it. The one table of loadable model classes; :func:`model_class` imports on use.
MODEL_CLASSES: dict[str, str] = {
    "MelAutoencoder": "audiogen.models.autoencoder",
    "MelVAE": "audiogen.models.autoencoder",
    "LatentDenoiser": "audiogen.models.denoiser",
    "Vocoder": "audiogen.models.vocoder.base",
    "VocosVocoder": "audiogen.models.vocoder.vocos",
    "GLRefineVocoder": "audiogen.models.vocoder.gl_refine",
    "StyleClassifier": "audiogen.models.classifier",
    "LatentSequenceModel": "audiogen.models.sequence",
}

#: diffusers scheduler class name (``_class_name`` of ``scheduler_config.json``) → the diffusers
#: submodule that defines it (imported alone: cheaper than the top-level ``diffusers`` package).
SCHEDULER_CLASSES: dict[str, str] = {
    "DDPMScheduler": "diffusers.schedulers.scheduling_ddpm",
    "DDIMScheduler": "diffusers.schedulers.scheduling_ddim",
    "DPMSolverMultistepScheduler": "diffusers.schedulers.scheduling_dpmsolver_multistep",
    "EulerDiscreteScheduler": "diffusers.schedulers.scheduling_euler_discrete",
    "FlowMatchEulerDiscreteScheduler": "diffusers.schedulers.scheduling_flow_match_euler_discrete",
}

#: Stage name → the class every model of that stage derives from.
STAGE_BASES: dict[str, str] = {
    "autoencoder": "MelAutoencoder",
    "denoiser": "LatentDenoiser",
    "vocoder": "Vocoder",
    "classifier": "StyleClassifier",
    "sequence": "LatentSequenceModel",
}

#: Base class name → the words error messages use for it.
_KIND = {
    "MelAutoencoder": "mel autoencoder",
    "LatentDenoiser": "latent denoiser",
    "Vocoder": "vocoder",
    "StyleClassifier": "style classifier",
    "LatentSequenceModel": "latent sequence model",
}


# ------------------------------------------------------------------------------------------------
# finding folders
# ------------------------------------------------------------------------------------------------


def find_model_folder(path: str | os.PathLike[str], name: str) -> Path:
    """The saved model folder of stage ``name`` (e.g. ``"vocoder"``) that ``path`` points at.

    ``path`` may be a model folder (holds ``config.json``), a pipeline folder (holds ``{name}/``),
    a checkpoint folder (its ``ema/{name}``, else ``models/{name}``), or a training run folder
    (the same, in its newest complete checkpoint under ``checkpoints/``, see
    :func:`~audiogen.models.checkpoint_folders.find_latest_checkpoint`).

    Raises:
        FileNotFoundError: ``path`` does not exist, or holds no ``name`` model (names the path and
            what was expected).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such {name} folder")
    if (path / CONFIG_NAME).is_file():
        return path
    checkpoints = path / "checkpoints"
    latest = None
    if checkpoints.is_dir():
        from audiogen.models.checkpoint_folders import find_latest_checkpoint

        latest = find_latest_checkpoint(checkpoints)
    for base in (path, latest):
        if base is None:
            continue
        for sub in (name, f"ema/{name}", f"models/{name}"):
            if (base / sub / CONFIG_NAME).is_file():
                return base / sub
    raise FileNotFoundError(
        f"{path}: no {name} here (expected a model folder with config.json, a pipeline folder with "
        f"{name}/, a checkpoint folder, or a training run folder with checkpoints/)"
    )


def find_pipeline_folder(path: str | os.PathLike[str] | None = None) -> Path:
    """The pipeline folder ``path`` names, or the bundled default (:data:`DEFAULT_PIPELINE`) if ``None``.

    Raises:
        FileNotFoundError: no such folder, or it holds no ``model_index.json``; for the default,
            the message says the bundled model is not installed and to pass a checkpoint.
    """
    if path is None:
        folder = DEFAULT_PIPELINE
        if not (folder / MODEL_INDEX_NAME).is_file():
            raise FileNotFoundError(
                f"the bundled default model is not installed ({folder / MODEL_INDEX_NAME} does not "
                "exist); pass a pipeline folder (--checkpoint DIR on the command line)"
            )
        return folder
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such pipeline folder")
    if not (folder / MODEL_INDEX_NAME).is_file():
        raise FileNotFoundError(
            f"{folder}: not a pipeline folder (missing {MODEL_INDEX_NAME}; write one with "
            "AudioGenPipeline.save_pretrained)"
        )
    return folder


# ------------------------------------------------------------------------------------------------
# class names
# ------------------------------------------------------------------------------------------------


def model_class(name: str) -> type:
    """The model class ``name`` stands for in :data:`MODEL_CLASSES` (its module imported on first use).

    Raises:
        KeyError: ``name`` is not in the table.
    """
    return getattr(importlib.import_module(MODEL_CLASSES[name]), name)


def scheduler_class(name: Any) -> type | None:
    """The diffusers scheduler class called ``name``, or ``None`` if there is none.

    Classes in :data:`SCHEDULER_CLASSES` are imported from their submodule; any other name is
    looked up in the ``diffusers`` package and accepted if it is a ``SchedulerMixin``.
    """
    if not isinstance(name, str):
        return None
    if name in SCHEDULER_CLASSES:
        return getattr(importlib.import_module(SCHEDULER_CLASSES[name]), name)
    import diffusers
    from diffusers import SchedulerMixin

    klass = getattr(diffusers, name, None)
    return klass if isinstance(klass, type) and issubclass(klass, SchedulerMixin) else None


def _kind(base: type) -> str:
    return _KIND.get(base.__name__, base.__name__)


def _class_for(name: Any, base: type, where: Path | str) -> type:
    """The class ``name`` (a ``class`` field read from ``where``) if it is ``base`` or derives from it.

    Raises:
        ValueError: ``name`` is not a known class deriving from ``base`` (lists those that are).
    """
    if isinstance(name, str) and name in MODEL_CLASSES and issubclass(model_class(name), base):
        return model_class(name)  # only this class's module is imported
    known = sorted(n for n in MODEL_CLASSES if issubclass(model_class(n), base))
    raise ValueError(f"{where}: {name!r} is not a {_kind(base)}; known: {known}")


# ------------------------------------------------------------------------------------------------
# reading files
# ------------------------------------------------------------------------------------------------


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON object read with :func:`~audiogen.models.config_checks.read_json`.

    Raises:
        FileNotFoundError: no such file (names it).
        ValueError: not JSON, or not an object (names the file).
    """
    from audiogen.models.config_checks import read_json as parse

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing")
    data = parse(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _require_model_files(directory: Path) -> None:
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (directory / name).is_file():
            raise FileNotFoundError(
                f"{directory}: missing {name} (a model folder holds {CONFIG_NAME} and {WEIGHTS_NAME})"
            )


def read_model_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """A model folder's ``config.json``: ``{"class": name, "config": {...}, "audiogen_version": ...}``.

    Raises:
        FileNotFoundError: ``config.json`` or ``model.safetensors`` is missing (names the folder).
        ValueError: not JSON, or ``class`` is not a string / ``config`` not an object.
    """
    from audiogen.models.config_checks import read_json as parse

    directory = Path(directory)
    _require_model_files(directory)
    meta = parse(directory / CONFIG_NAME)
    if not isinstance(meta, dict) or "class" not in meta or "config" not in meta:
        raise ValueError(f"{directory / CONFIG_NAME}: expected keys 'class' and 'config'")
    if not isinstance(meta["class"], str) or not isinstance(meta["config"], dict):
        raise ValueError(f"{directory / CONFIG_NAME}: 'class' must be a string and 'config' an object")
    return meta


# ------------------------------------------------------------------------------------------------
# building models
# ------------------------------------------------------------------------------------------------


def load_model(
    path: str | os.PathLike[str],
    stage: str | None = None,
    device: str | torch.device = "cpu",
    base: type | None = None,
) -> Any:
    """Load whichever model class a folder's ``config.json`` names (eval mode).

    Args:
        path: a model folder; with ``stage``, anything :func:`find_model_folder` accepts (a model,
            pipeline, checkpoint or training run folder).
        stage: ``"autoencoder"``, ``"denoiser"``, ``"vocoder"`` or ``"classifier"``: where to look
            in ``path``, and (unless ``base`` is given) the base class the model must derive from
            (:data:`STAGE_BASES`).
        device: where to put the model.
        base: the class the model must be or derive from (default: the stage's, else any model
            class in :data:`MODEL_CLASSES`).

    Raises:
        FileNotFoundError: no such model there (names the path).
        ValueError: the folder holds a class that is not ``base`` or one derived from it (lists the
            known ones), or as the class's ``from_pretrained``
            (:meth:`~audiogen.models.pretrained.PretrainedMixin.from_pretrained`: the config is
            checked, the model built on the meta device and compared with the safetensors header
            before anything is allocated, the weights loaded strictly and checked finite).
    """
    folder = find_model_folder(path, stage) if stage is not None else Path(path)
    if base is None and stage is not None and stage in STAGE_BASES:
        base = model_class(STAGE_BASES[stage])
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder}: missing {CONFIG_NAME}")
    meta = read_json(config_path)
    if base is None:
        name = meta.get("class")
        if name not in MODEL_CLASSES:
            raise ValueError(f"{config_path}: {name!r} is not a model class; known: {sorted(MODEL_CLASSES)}")
        return model_class(name).from_pretrained(folder, device)
    return _class_for(meta.get("class"), base, config_path).from_pretrained(folder, device)


def load_scheduler(folder: str | os.PathLike[str]) -> Any:
    """The training noise schedule in ``folder/scheduler_config.json`` (its ``_class_name``).

    A class in :data:`SCHEDULER_CLASSES` (what pipeline folders hold) loads as an
    :class:`audiogen.samplers.NoiseSchedule` (a rectified-flow config, ``FlowMatchEulerDiscreteScheduler``
    or ``prediction_type: "flow_prediction"``, as an :class:`audiogen.samplers.FlowMatchSchedule`),
    without importing diffusers (generation never does); any other diffusers scheduler class is
    built by diffusers.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: ``_class_name`` is not a diffusers scheduler, or the config is malformed
            (:func:`~audiogen.models.config_checks.check_scheduler_config`) or cannot be built.
    """
    from audiogen.models.config_checks import check_scheduler_config

    path = Path(folder) / SCHEDULER_CONFIG_NAME
    config = read_json(path)
    name = config.get("_class_name")
    if name in SCHEDULER_CLASSES:
        from audiogen.samplers import FlowMatchSchedule, NoiseSchedule, is_flow_schedule

        klass: Any = FlowMatchSchedule if is_flow_schedule(config) else NoiseSchedule
    else:
        klass = scheduler_class(name)
        if klass is None:
            raise ValueError(f"{path}: _class_name {name!r} is not a diffusers scheduler")
    check_scheduler_config(config, path)
    try:
        return klass.from_config(config)
    except (NotImplementedError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise ValueError(f"{path}: cannot build {name} from it ({type(e).__name__}: {e})") from e


def scheduler_name(scheduler: Any) -> str:
    """The class name a pipeline folder records for ``scheduler`` (``stages.scheduler.class``).

    A :class:`~audiogen.samplers.NoiseSchedule` gives the diffusers class its config was saved as;
    a diffusers scheduler its own class name.
    """
    return getattr(scheduler, "class_name", None) or type(scheduler).__name__


# ------------------------------------------------------------------------------------------------
# pipeline folders
# ------------------------------------------------------------------------------------------------


def save_pipeline_folder(
    directory: str | os.PathLike[str],
    models: dict[str, Any],
    scheduler: Any,
    index: dict[str, Any],
    model_card: str | None = None,
    float16_stages: Sequence[str] = (),
) -> Path:
    """Write a pipeline folder: each model's folder, ``scheduler/``, ``MODEL_CARD.md``, then the index.

    Args:
        directory: output folder (created; existing stage files are replaced).
        models: stage name → model with ``save_pretrained`` (``autoencoder``, ``denoiser``,
            ``vocoder``), each written to the subfolder of its name.
        scheduler: the diffusers scheduler (``save_config`` into ``scheduler/``).
        index: the ``model_index.json`` content, written last (a folder without it is incomplete).
        model_card: Markdown text for ``MODEL_CARD.md`` (``None``: none written).
        float16_stages: stages whose parameters are stored as float16 (half the file; loaded back
            as float32).

    Returns:
        ``directory`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: ``float16_stages`` names something that is not a stage with weights.
    """
    import torch

    from audiogen.models.pretrained import write_json_atomic

    unknown = sorted(set(float16_stages) - set(models))
    if unknown:
        raise ValueError(
            f"float16_stages: {unknown} are not stages with weights (choose from {sorted(models)})"
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, model in models.items():
        dtype = torch.float16 if name in float16_stages else None
        model.save_pretrained(directory / name, parameter_dtype=dtype)
    scheduler.save_config(str(directory / "scheduler"))
    if model_card is not None:
        (directory / MODEL_CARD_NAME).write_text(model_card)
    write_json_atomic(directory / MODEL_INDEX_NAME, index)
    return directory


def load_pipeline_stages(
    directory: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a pipeline folder: ``model_index.json`` and every stage it names.

    Each stage is loaded as the class ``stages.<stage>.class`` records (which must be one of the
    stage's classes, :data:`STAGE_BASES`, and the class its ``config.json`` holds); a stage
    subfolder that leads outside ``directory`` is refused
    (:func:`~audiogen.models.config_checks.check_model_index`).

    Returns:
        ``{"index": the parsed model_index.json, "index_path": its path, "mel_config": MelConfig,
        "cfg_scale": float, "steps": int, "autoencoder": ..., "denoiser": ..., "scheduler": ...,
        "vocoder": ...}``.

    Raises:
        FileNotFoundError: the folder, its ``model_index.json`` or a stage's files are missing
            (the message names the path).
        ValueError: a corrupt or inconsistent file (names it and the field).
    """
    from audiogen.config import MelConfig, from_dict
    from audiogen.models.config_checks import check_model_index

    directory = find_pipeline_folder(directory)
    index_path = directory / MODEL_INDEX_NAME
    index = read_json(index_path)
    stages = check_model_index(index, directory, index_path, STAGES)
    try:
        mel_config = from_dict(MelConfig, index["mel"])
        cfg_scale = float(index.get("generation", {}).get("cfg_scale", DEFAULT_CFG_SCALE))
        steps = index.get("generation", {}).get("steps", DEFAULT_STEPS)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"{index_path}: malformed ({type(e).__name__}: {e})") from e
    if not math.isfinite(cfg_scale):
        raise ValueError(f"{index_path}: malformed (generation.cfg_scale is {cfg_scale}, not finite)")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{index_path}: malformed (generation.steps is {steps!r}, not an integer >= 1)")
    for name, folder in stages.items():
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: missing {name} folder of the pipeline in {directory}")
    loaded: dict[str, Any] = {
        "index": index,
        "index_path": index_path,
        "mel_config": mel_config,
        "cfg_scale": cfg_scale,
        "steps": steps,
    }
    for name, folder in stages.items():
        recorded = index["stages"][name].get("class")
        if name == "scheduler":
            loaded[name] = load_scheduler(folder)
            actual = scheduler_name(loaded[name])
            if recorded is not None and recorded != actual:
                raise ValueError(
                    f"{index_path}: stages.scheduler.class is {recorded!r} but {folder} holds a {actual}"
                )
            continue
        base = model_class(STAGE_BASES[name])
        if recorded is None:  # written before model_index.json recorded classes: config.json decides
            loaded[name] = load_model(folder, base=base, device=device)
        else:
            klass = _class_for(recorded, base, f"{index_path}: stages.{name}.class")
            loaded[name] = klass.from_pretrained(folder, device)
    return loaded
