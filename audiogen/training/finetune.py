"""Fine-tune a trained pipeline on your own audio collection (``audiogen finetune``).

One call goes from a folder of audio (or a manifest) to a complete pipeline folder:

1. **data**: the folder is scanned with :func:`~audiogen.data.scan.scan_folder` (every file
   decoded and checked; bad files are reported with their reason and left out, never a crash).
   Every usable file gets the style ``style`` (default: the folder's name) and a split drawn per
   file; the manifest is kept in ``RUN_DIR/data/manifest.jsonl`` so a resumed run sees the same data.
2. **stages**, each through the project's one Accelerate trainer
   (:func:`audiogen.training.train_stage`), started from the base pipeline's weights (the
   recipe's ``init`` section) and resumed from its newest checkpoint when the command is run again:

   * ``generator``: the latent denoiser, on latents of the collection encoded by the base
     autoencoder (a latent cache in ``RUN_DIR/cache``). A new style gets a new row of the label
     embedding, started from the "no style" row, so the base styles still work.
   * ``generator+vocoder``: also the vocoder, on waveform segments of the collection (mel L1 +
     multi-resolution STFT losses; the bundled vocoder has no discriminator to continue from).
   * ``all``: first the autoencoder (its ``latent_scale`` kept from the base, so the denoiser's
     latents stay on the same scale) with the adversarial objective of ``recipes/autoencoder_gan.yaml``
     (mel patch discriminator, hinge loss, feature matching, adaptive weight), so the decoder stays
     sharp on the new audio; then the denoiser on the new autoencoder's latents, then the vocoder.

3. **pipeline**: the fine-tuned stages (EMA weights) and the base's other stages are written to
   ``RUN_DIR`` itself (``model_index.json`` + stage folders, as
   :meth:`~audiogen.pipelines.audiogen.AudioGenPipeline.save_pretrained`), so
   ``audiogen generate --checkpoint RUN_DIR --style STYLE`` uses it.

With ``lora_rank`` (``--lora RANK``) the denoiser stays frozen: only a peft LoRA adapter and the
embedding rows of the new styles train (:func:`audiogen.models.lora.attach_for_training`), and
instead of a pipeline the run writes the adapter, ``RUN_DIR/lora/denoiser/`` (peft's
``adapter_config.json`` + ``adapter_model.safetensors``, the style rows, a sidecar with the base
denoiser's SHA-256) and ``RUN_DIR/lora/MODEL_CARD.md``; ``audiogen generate --lora RUN_DIR``
loads it onto the base (:meth:`~audiogen.pipelines.audiogen.AudioGenPipeline.load_lora`).

Run folder::

    RUN_DIR/finetune.json        settings (a re-run must name the same data, base, stages, style)
    RUN_DIR/data/manifest.jsonl  the collection's files, splits and style
    RUN_DIR/data/rejected.jsonl  files that could not be used, with the reason
    RUN_DIR/cache/               latent cache of the collection
    RUN_DIR/train/<stage>/       trainer run folders: checkpoints, TensorBoard logs, metrics.jsonl,
                                 samples/step-XXXXXXXX/ (WAV + spectrogram PNG every --sample-every)
    RUN_DIR/model_index.json, autoencoder/, denoiser/, scheduler/, vocoder/, MODEL_CARD.md
    RUN_DIR/lora/denoiser/, RUN_DIR/lora/MODEL_CARD.md   (instead, with --lora)

Under ``accelerate launch`` every process runs this same function; the scan and the pipeline are
written by the main process while the others wait. On several machines without a shared disk
(``shared_cache=False``, ``--no-shared-cache``) the first process of each machine scans into and
caches in that machine's ``RUN_DIR``; checkpoints and the pipeline are written on the machine of
process 0, and each stage's final checkpoint is copied to the other machines for the next stage.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

STAGE_PLANS: dict[str, tuple[str, ...]] = {
    "generator": ("denoiser",),
    "generator+vocoder": ("denoiser", "vocoder"),
    "all": ("autoencoder", "denoiser", "vocoder"),
}
"""Which pipeline stages each ``--stages`` choice fine-tunes, in training order."""

SETTINGS_NAME = "finetune.json"
# settings a resumed run must share with the run it continues (the rest may change, e.g. --steps)
_FIXED_SETTINGS = ("source", "base", "stages", "style", "lora_rank", "lora_alpha", "lora_targets")


class FinetuneError(RuntimeError):
    """The fine-tuning run cannot start (bad base, empty collection, a run folder of other settings)."""


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings of one fine-tuning run (the options of ``audiogen finetune``).

    Attributes:
        source: a folder of audio (scanned recursively) or a JSONL manifest.
        out: the run folder; it becomes the fine-tuned pipeline folder.
        base: ``"default"`` (the bundled model) or a pipeline folder.
        steps: optimizer steps of the denoiser (and of the other stages unless given below).
        vocoder_steps: optimizer steps of the vocoder (``None``: ``steps``); a vocoder step costs
            far more than a denoiser step.
        autoencoder_steps: optimizer steps of the autoencoder (``None``: ``steps``).
        stages: ``"generator"``, ``"generator+vocoder"`` or ``"all"`` (see :data:`STAGE_PLANS`).
        style: the style name of the collection (``None``: the manifest's labels if it has any,
            else the folder's name).
        batch_size: examples per process per micro-batch.
        lr: peak learning rate of every stage (constant after a short warm-up).
        segment_seconds: training crop length of the denoiser and the autoencoder in seconds;
            shorter files are padded with silence.
        vocoder_segment_samples: waveform segment of the vocoder in samples (rounded down to a
            multiple of ``hop_length``).
        sample_every: steps between validations with sample clips + PNGs and checkpoints
            (``None``: a quarter of ``steps``).
        mixed_precision: ``"no"``, ``"fp16"`` or ``"bf16"``.
        gradient_accumulation_steps: micro-batches per optimizer step.
        gradient_checkpointing: recompute the denoiser's activations in the backward pass.
        min_seconds: shortest file accepted by the scan, in seconds.
        valid_fraction: fraction of files in ``"valid"`` (validation samples).
        test_fraction: fraction of files held out in ``"test"`` (for ``audiogen eval generate``).
        seed: seed of the splits, model noise and data order.
        num_workers: DataLoader worker processes.
        cpu: train on the CPU even if a GPU is present.
        zero_terminal_snr: fine-tune the denoiser on the zero-terminal-SNR version of its noise
            schedule (:attr:`~audiogen.models.denoiser.DiffusionConfig.rescale_betas_zero_snr`),
            so it learns to start from pure noise: needed to generate sounds that begin or end in
            silence (one-shots) from a model trained on continuous music. Only a v-prediction base
            is changed (a rectified-flow base already starts from pure noise).
        lora_rank: train a LoRA adapter of this rank on the frozen denoiser instead of its weights
            (with the embedding rows of new styles); written to ``RUN_DIR/lora/denoiser/``
            (:mod:`audiogen.models.lora`). ``None``: full fine-tuning.
        lora_alpha: the adapter's ``lora_alpha`` (``None``: the rank, so the update's scale is 1).
        lora_targets: module name suffixes that get LoRA (``None``:
            :data:`~audiogen.models.lora.DEFAULT_TARGETS`).
        shared_cache: several machines see one ``RUN_DIR`` (``False``: each has its own disk);
            the recipes' ``train.shared_cache``.
        dist_timeout_s: seconds a process waits for the others (``train.dist_timeout_s``).
    """

    source: str
    out: str
    base: str = "default"
    steps: int = 500
    vocoder_steps: int | None = None
    autoencoder_steps: int | None = None
    stages: Literal["generator", "generator+vocoder", "all"] = "generator"
    style: str | None = None
    batch_size: int = 8
    lr: float = 1e-4
    segment_seconds: float = 2.0
    vocoder_segment_samples: int = 8192
    sample_every: int | None = None
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = False
    min_seconds: float = 0.1
    valid_fraction: float = 0.1
    test_fraction: float = 0.0
    seed: int = 0
    num_workers: int = 0
    cpu: bool = False
    zero_terminal_snr: bool = True
    lora_rank: int | None = None
    lora_alpha: float | None = None
    lora_targets: tuple[str, ...] | None = None
    shared_cache: bool = True
    dist_timeout_s: float = 1800.0

    def __post_init__(self) -> None:
        if self.stages not in STAGE_PLANS:
            raise ValueError(f"stages must be one of {sorted(STAGE_PLANS)}, got {self.stages!r}")
        if self.steps < 1 or self.batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError("steps, batch_size and gradient_accumulation_steps must be >= 1")
        if any(n is not None and n < 1 for n in (self.vocoder_steps, self.autoencoder_steps)):
            raise ValueError("vocoder_steps and autoencoder_steps must be >= 1")
        if self.sample_every is not None and self.sample_every < 1:
            raise ValueError(f"sample_every must be >= 1, got {self.sample_every}")
        if self.lr <= 0 or self.segment_seconds <= 0:
            raise ValueError("lr and segment_seconds must be positive")
        if self.style is not None and not self.style.strip():
            raise ValueError("style must not be empty")
        if not 0 <= self.valid_fraction + self.test_fraction < 1:
            raise ValueError("valid_fraction + test_fraction must be in [0, 1)")
        if self.lora_targets is not None:
            object.__setattr__(self, "lora_targets", tuple(str(t) for t in self.lora_targets))
        if self.lora_rank is not None:
            if self.lora_rank < 1:
                raise ValueError(f"--lora: the rank must be >= 1, got {self.lora_rank}")
            if self.stages != "generator":
                raise ValueError(
                    f"--lora trains an adapter of the denoiser only: use --stages generator, "
                    f"not {self.stages}"
                )
            if self.lora_alpha is not None and self.lora_alpha <= 0:
                raise ValueError(f"--lora-alpha must be positive, got {self.lora_alpha}")
        elif self.lora_alpha is not None or self.lora_targets is not None:
            raise ValueError("--lora-alpha and --lora-targets need --lora RANK")


@dataclass
class FinetuneResult:
    """What :func:`finetune` did.

    Attributes:
        pipeline_dir: the fine-tuned pipeline folder (``= config.out``).
        manifest: the collection's manifest in the run folder.
        styles: the fine-tuned styles (what ``generate --style`` takes).
        files: usable files per split.
        rejected: files the scan could not use (path and reason in ``data/rejected.jsonl``).
        steps: optimizer steps done per fine-tuned stage.
        last_losses: the last logged training losses per stage.
    """

    pipeline_dir: Path
    manifest: Path
    styles: list[str]
    files: dict[str, int]
    rejected: int
    steps: dict[str, int] = field(default_factory=dict)
    last_losses: dict[str, dict[str, float]] = field(default_factory=dict)


def resolve_base(base: str) -> Path:
    """The base pipeline folder: ``"default"`` → the bundled model, else ``base`` itself.

    Raises:
        FileNotFoundError: no ``model_index.json`` there (names the path).
    """
    from audiogen import hub

    try:
        return hub.find_pipeline_folder(None if base == "default" else base)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e}; --from takes default or a folder written by audiogen finetune") from e


def _check_settings(run_dir: Path, settings: dict[str, Any]) -> None:
    """Refuse to continue a run folder that was started on other data, base, stages or style."""
    path = run_dir / SETTINGS_NAME
    if not path.is_file():
        return
    old = json.loads(path.read_text())
    diff = [
        f"{k}: {old.get(k)!r} then, {settings[k]!r} now" for k in _FIXED_SETTINGS if old.get(k) != settings[k]
    ]
    if diff:
        raise FinetuneError(
            f"{run_dir} holds a fine-tuning run with other settings ({'; '.join(diff)}); "
            "choose another --out or repeat the original command to resume it"
        )


@dataclass(frozen=True)
class PreparedData:
    """The collection as :func:`prepare_data` left it.

    Attributes:
        manifest: ``RUN_DIR/data/manifest.jsonl`` (files, splits, styles).
        rejected: files that could not be used (listed with reasons in ``data/rejected.jsonl``).
    """

    manifest: Path
    rejected: int


def collect_data(config: FinetuneConfig, progress: bool = True) -> Any:
    """:func:`audiogen.data.collection.collect` with the run's settings (writes nothing).

    Raises:
        audiogen.data.collection.CollectionError: nothing usable in the collection (says why).
        FileNotFoundError: ``config.source`` does not exist.
    """
    from audiogen.data.collection import collect

    return collect(
        config.source, config.style, config.min_seconds, config.valid_fraction, config.test_fraction,
        config.seed, progress,
    )  # fmt: skip


def prepare_data(config: FinetuneConfig, progress: bool = True, collected: Any = None) -> PreparedData:
    """Write (once) the collection's manifest with splits and style, and the files that cannot be used.

    The collection is :func:`collect_data`'s (``collected``: its result, when already called).
    Later calls reuse ``RUN_DIR/data/manifest.jsonl``.

    Returns:
        :class:`PreparedData`.

    Raises:
        audiogen.data.collection.CollectionError: nothing usable in the collection (says why).
        FileNotFoundError: ``config.source`` does not exist.
    """
    from audiogen.data.manifest import write_manifest
    from audiogen.data.scan import write_rejections

    data_dir = Path(config.out) / "data"
    manifest = data_dir / "manifest.jsonl"
    rejected_path = data_dir / "rejected.jsonl"
    if manifest.is_file():
        rejected = len(rejected_path.read_text().splitlines()) if rejected_path.is_file() else 0
        return PreparedData(manifest, rejected)
    collected = collected or collect_data(config, progress)
    write_rejections(rejected_path, collected.rejections)
    write_manifest(manifest, collected.entries)
    return PreparedData(manifest, len(collected.rejections))


def _model_card(config: FinetuneConfig, base_dir: Path, styles: list[str], files: dict[str, int]) -> str:
    from audiogen.training.finetune_stages import stage_steps

    steps = ", ".join(f"{stage} {stage_steps(config, stage)}" for stage in STAGE_PLANS[config.stages])
    return (
        "# Fine-tuned audiogen pipeline\n\n"
        f"- base: `{base_dir}` (see its MODEL_CARD.md)\n"
        f"- collection: `{config.source}` ({', '.join(f'{k} {v}' for k, v in files.items())} files)\n"
        f"- styles: {', '.join(styles)}\n"
        f"- fine-tuned stages and steps: {steps}; batch {config.batch_size}, lr {config.lr}\n"
        f"- other stages: copied from the base\n\n"
        f"Generate: `audiogen generate --checkpoint {config.out} --style {styles[0]}`\n"
    )


def export_lora(
    config: FinetuneConfig, base_dir: Path, stage_dir: Path, styles: list[str], files: dict[str, int]
) -> Path:
    """Write the LoRA run's adapter (EMA weights of its newest checkpoint) to ``RUN_DIR/lora/denoiser/``
    and a model card to ``RUN_DIR/lora/MODEL_CARD.md``; returns ``RUN_DIR/lora``."""
    from audiogen.config import from_dict
    from audiogen.hub import find_model_folder, load_model
    from audiogen.models.denoiser import DiffusionConfig, LatentDenoiser
    from audiogen.models.lora import attach_for_training, lora_config, save_adapter, weights_sha256
    from audiogen.models.pretrained import load_model_files
    from audiogen.training.finetune_stages import stage_steps

    base = load_model(base_dir, "denoiser")
    base_labels = list(base.config.class_labels or [])
    trained = find_model_folder(stage_dir, "denoiser")
    _, saved_config, state = load_model_files(trained)
    model = LatentDenoiser(from_dict(DiffusionConfig, saved_config))
    new_styles = [s for s in styles if s not in base_labels] if base_labels else []
    lora = lora_config(config.lora_rank, config.lora_alpha, config.lora_targets)  # type: ignore[arg-type]
    attach_for_training(model, lora, new_styles)
    model.load_state_dict(state, strict=True)
    out = Path(config.out) / "lora"
    info = {"base": str(base_dir), "source": config.source, "steps": stage_steps(config, "denoiser"),
            "trained_from": str(trained)}  # fmt: skip
    save_adapter(model, out / "denoiser", weights_sha256(base), base_labels, info)
    (out / "MODEL_CARD.md").write_text(
        "# LoRA adapter for an audiogen pipeline\n\n"
        f"- base: `{base_dir}` (the adapter loads only onto this denoiser: SHA-256 in "
        "`denoiser/audiogen_lora.json`)\n"
        f"- collection: `{config.source}` ({', '.join(f'{k} {v}' for k, v in files.items())} files)\n"
        f"- styles: {', '.join(styles)}; new: {', '.join(new_styles) or 'none'}\n"
        f"- LoRA rank {config.lora_rank}, alpha {config.lora_alpha or config.lora_rank}, targets "
        f"{', '.join(sorted(model.peft_config['default'].target_modules))}; "
        f"{stage_steps(config, 'denoiser')} steps, batch {config.batch_size}, lr {config.lr}\n"
        f"- noise schedule: {'zero terminal SNR' if model.config.rescale_betas_zero_snr else 'the base'}\n\n"
        f"Generate: `audiogen generate --lora {config.out} --style {styles[0]}` "
        "(`--lora DIR:STRENGTH`, repeatable)\n"
    )
    return out


def finetune(config: FinetuneConfig, progress: bool = True) -> FinetuneResult:
    """Fine-tune the base pipeline on ``config.source`` and write the pipeline to ``config.out``.

    Running it again with the same settings resumes each stage from its newest checkpoint (a finished
    stage is not trained again; a larger ``steps`` continues it). See the module docstring.

    Returns:
        :class:`FinetuneResult`.

    Nothing is created before the inputs are checked: ``--out``'s location, the base pipeline, the
    run folder (clear of the inputs; empty or a fine-tuning run) and a new run's collection.

    Raises:
        FinetuneError: ``config.out`` holds a run of other settings.
        audiogen.training.run_folder.RunFolderError: ``config.out`` is in use by another process,
            overlaps the audio folder, the manifest's files or the base pipeline, or is a non-empty
            folder that is not a fine-tuning run; or a new run's collection has nothing usable (the
            :class:`~audiogen.data.collection.CollectionError` message: no audio files, or every
            file rejected, with the reasons).
        FileNotFoundError: missing source or base pipeline.
        ValueError: ``config.out`` cannot be created (a file on its path, a folder without write
            permission), bad settings (or as the training tasks raise).
        audiogen.training.TrainingError: a stage could not train (e.g. non-finite losses).
    """

    from audiogen.training.distributed import start_process_group
    from audiogen.training.run_folder import check_creatable, claim_folder, finetune_inputs, finetune_verdict

    run_dir = Path(config.out)
    check_creatable(run_dir, "--out")
    state = start_process_group(config.cpu, config.dist_timeout_s)
    base_dir = resolve_base(config.base)
    settings = {
        **dataclasses.asdict(config),
        "base": str(base_dir.resolve()),
        "source": str(Path(config.source).resolve()),
        "lora_targets": list(config.lora_targets) if config.lora_targets else None,
    }

    def checks() -> None:  # --out clear of the data and the base; empty or a fine-tuning run
        return finetune_verdict(run_dir, finetune_inputs(config.source, base_dir), SETTINGS_NAME)

    collected: list[Any] = []

    def precheck() -> None:  # and, for a new run, the collection: before anything is created
        checks()
        if not (run_dir / "data" / "manifest.jsonl").is_file():
            collected.append(collect_data(config, progress))

    lock = claim_folder(state, run_dir, checks, precheck=precheck)
    try:
        return _finetune(config, state, run_dir, base_dir, settings, progress, collected)
    finally:
        if lock is not None:
            lock.release()


def _finetune(
    config: FinetuneConfig,
    state: Any,
    run_dir: Path,
    base_dir: Path,
    settings: dict[str, Any],
    progress: bool,
    collected: list[Any],
) -> FinetuneResult:
    """:func:`finetune` once its run folder is claimed (``collected``: the checked collection, or [])."""
    from accelerate import PartialState

    from audiogen.data.manifest import read_manifest
    from audiogen.hub import find_model_folder
    from audiogen.models.pretrained import write_json_atomic
    from audiogen.pipelines.audiogen import AudioGenPipeline
    from audiogen.training import train_stage
    from audiogen.training.distributed import agree_on_checkpoint, cache_builders_first
    from audiogen.training.finetune_stages import TRAINING_TASK, stage_recipe, stage_steps

    _check_settings(run_dir, settings)
    base = AudioGenPipeline.from_pretrained(base_dir)  # checks the base (stages agree) before any work
    folders = {name: find_model_folder(base_dir, name) for name in TRAINING_TASK}

    with cache_builders_first(state, config.shared_cache):
        if state.is_main_process or (state.is_local_main_process and not config.shared_cache):
            run_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(run_dir / SETTINGS_NAME, settings)
        data = prepare_data(config, progress and state.is_main_process, collected[0] if collected else None)
    manifest = data.manifest
    entries = read_manifest(manifest)
    files = {s: sum(e.split == s for e in entries) for s in ("train", "valid", "test")}
    styles = sorted({e.label for e in entries if e.label})
    val_split = "valid" if files["valid"] else "train"

    result = FinetuneResult(run_dir, manifest, styles, files, data.rejected)
    for stage in STAGE_PLANS[config.stages]:
        recipe = stage_recipe(stage, config, manifest, folders, styles, val_split)
        stage_dir = run_dir / "train" / stage
        if PartialState(cpu=config.cpu).is_main_process:
            print(f"== fine-tuning the {stage} ({stage_steps(config, stage)} steps) in {stage_dir}")
        trained = train_stage(TRAINING_TASK[stage], recipe, stage_dir, resume=True)
        if not config.shared_cache:  # the next stages and the pipeline read it on every machine
            agree_on_checkpoint(PartialState(cpu=config.cpu), stage_dir / "checkpoints", resume=True)
        result.steps[stage] = trained.step
        result.last_losses[stage] = trained.last_losses
        folders[stage] = find_model_folder(stage_dir, stage)

    state = PartialState(cpu=config.cpu)  # the trainer resets Accelerate's state (not the group)
    state.wait_for_everyone()
    if state.is_main_process and config.lora_rank is not None:
        result.pipeline_dir = export_lora(config, base_dir, run_dir / "train" / "denoiser", styles, files)
    elif state.is_main_process:
        from audiogen.hub import load_model
        from audiogen.samplers.factory import noise_scheduler

        denoiser = load_model(folders["denoiser"], "denoiser")
        pipe = AudioGenPipeline(
            base.mel_config,
            load_model(folders["autoencoder"], "autoencoder"),
            denoiser,
            noise_scheduler(denoiser.config),  # the schedule it was fine-tuned on
            load_model(folders["vocoder"], "vocoder"),
            cfg_scale=base.cfg_scale,  # the base model's measured defaults; re-measure after fine-tuning
            steps=base.steps,
        )
        pipe.save_pretrained(run_dir, model_card=_model_card(config, base_dir, styles, files))
    state.wait_for_everyone()
    return result
