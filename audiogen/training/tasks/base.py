"""What a training stage supplies to the one trainer: a :class:`Task` (the stages:
:mod:`audiogen.training.tasks`).

A task owns everything stage-specific — its models, datasets, how a batch becomes named losses,
and what a validation sample looks like — and nothing about the loop (devices, precision,
accumulation, clipping, EMA, logging, checkpoints), which :class:`audiogen.training.trainer.Trainer`
does the same way for every stage.

The contract, in the order the trainer uses it:

1. :meth:`Task.build_models` → ``{name: nn.Module}`` (on CPU; the trainer moves and wraps them).
   :attr:`Task.ema_models` names the ones that also get an EMA copy. The trainer then calls
   :meth:`Task.load_init_weights`, which starts the models named in the recipe's ``init`` section
   from saved weights (fine-tuning) instead of a fresh initialisation, then
   :meth:`Task.freeze_modules`, which stops training the sub-modules the recipe's ``freeze``
   section names (e.g. a VAE's encoder while its decoder is fine-tuned).
2. :meth:`Task.build_optimizers` → ``{name: Optimizer}``. Each optimizer is a *phase*: per batch the
   trainer calls ``step(batch, phase)`` once per optimizer, in order, and updates only that optimizer
   (one ``"main"`` phase for most stages; ``"discriminator"`` then ``"generator"`` for a GAN).
3. :meth:`Task.build_datasets` → :class:`Datasets` (train and optional validation).
4. :meth:`Task.setup` receives the accelerator and the prepared (device-placed, maybe DDP-wrapped)
   models, kept as ``self.models``; call them (their ``forward``) inside ``step``.
5. :meth:`Task.step` → ``{loss name: scalar tensor}``. The trainer multiplies each by the recipe's
   ``loss_weights[name]`` (names without a weight are only logged) and adds them to ``total``.
6. :meth:`Task.validate` → :class:`ValidationOutput`: metrics to average, samples to write.
7. :meth:`Task.on_checkpoint` runs on every process just before a checkpoint is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from accelerate import Accelerator

    from audiogen.config import MelConfig
    from audiogen.training.train_config import TrainConfig


@dataclass
class Datasets:
    """The datasets of a stage; items are dicts of tensors that ``default_collate`` can batch."""

    train: torch.utils.data.Dataset
    val: torch.utils.data.Dataset | None = None


@dataclass
class Sample:
    """One validation example to write to disk and TensorBoard.

    Attributes:
        name: file stem, e.g. ``"sample_00"``.
        audio: waveform ``(channels, samples)`` in [-1, 1] written as ``{name}.wav``, or ``None``.
        sample_rate: of ``audio`` in Hz.
        mels: natural-log mels ``(n_mels, frames)`` drawn one above the other in ``{name}.png``.
        titles: one per mel.
        mel_config: front-end settings for the PNG axes.
        extra_audio: further waveforms ``{suffix: (channels, samples)}`` written as ``{name}_{suffix}.wav``.
    """

    name: str
    audio: torch.Tensor | None = None
    sample_rate: int = 22050
    mels: list[torch.Tensor] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    mel_config: MelConfig | None = None
    extra_audio: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class ValidationOutput:
    """Result of :meth:`Task.validate` on one batch.

    Attributes:
        metrics: scalar tensors averaged over validation batches and processes, logged as ``val/<name>``.
        samples: examples to write (only requested from the main process's first batch).
    """

    metrics: dict[str, torch.Tensor]
    samples: list[Sample] = field(default_factory=list)


def write_samples(folder: Path, samples: list[Sample], step: int, tensorboard: Any = None) -> None:
    """Write validation samples: ``{name}.wav`` (+ ``{name}_{suffix}.wav``) and ``{name}.png``.

    Audio is clipped to [-1, 1]; with a TensorBoard ``SummaryWriter`` the audio (mixed to mono) is
    also logged as ``samples/<stem>`` at ``step``.
    """
    from audiogen.audio.io import save_audio
    from audiogen.evaluation.plotting import save_mel_png

    folder.mkdir(parents=True, exist_ok=True)
    for s in samples:
        audios = ({"": s.audio} if s.audio is not None else {}) | s.extra_audio
        for suffix, audio in audios.items():
            stem = f"{s.name}_{suffix}" if suffix else s.name
            wave = audio.detach().float().cpu().clamp(-1, 1)
            save_audio(folder / f"{stem}.wav", wave, s.sample_rate)
            if tensorboard is not None:
                tensorboard.add_audio(f"samples/{stem}", wave.mean(0), step, sample_rate=s.sample_rate)
        if s.mels and s.mel_config is not None:
            mels = [m.detach().float().cpu() for m in s.mels]
            save_mel_png(folder / f"{s.name}.png", mels, s.mel_config, s.titles or None)


def check_gain_db(gain_db: Any) -> tuple[float, float] | None:
    """Validate a data section's ``gain_db`` augmentation range ``[low, high]`` (dB).

    Returns:
        ``(low, high)`` as floats, or ``None`` for ``None`` (no augmentation).

    Raises:
        ValueError: not two numbers with ``low <= high``.
    """
    if gain_db is None:
        return None
    gain = tuple(float(g) for g in gain_db)
    if len(gain) != 2 or gain[0] > gain[1]:
        raise ValueError(f"data.gain_db must be [low, high] with low <= high (dB), got {gain_db}")
    return gain  # type: ignore[return-value]


def apply_random_gain(waveform: torch.Tensor, gain_db: tuple[float, float] | None) -> torch.Tensor:
    """Scale each item of ``waveform (batch, ...)`` by a gain drawn uniformly in ``gain_db`` (dB).

    The draw uses torch's global generator on ``waveform``'s device, one value per batch item.
    A zero-width range ``[x, x]`` scales every item by ``x`` dB without a draw; ``None`` (or
    ``[0, 0]``) leaves the waveform as it is.

    Returns:
        A tensor of ``waveform``'s shape.
    """
    if gain_db is None or gain_db == (0.0, 0.0):
        return waveform
    if gain_db[1] <= gain_db[0]:
        return waveform * 10.0 ** (gain_db[0] / 20.0)
    shape = (waveform.shape[0],) + (1,) * (waveform.dim() - 1)
    db = torch.empty(shape, device=waveform.device).uniform_(gain_db[0], gain_db[1])
    return waveform * torch.pow(10.0, db / 20.0)


def split_datasets(
    entries: list[Any],
    train_split: str,
    val_split: str | None,
    make: Any,
    source: Any,
) -> Datasets:
    """Training and (when its split has files) validation datasets from manifest entries.

    Args:
        entries: :class:`~audiogen.data.manifest.ManifestEntry` list.
        train_split, val_split: split names (``val_split=None``: no validation).
        make: ``make(entries, split, train: bool) -> Dataset``.
        source: the manifest or folder, named in the error.

    Raises:
        ValueError: if no entry is in ``train_split`` (names ``source`` and the file count).
    """
    if not any(e.split == train_split for e in entries):
        raise ValueError(f"{source}: no files in split {train_split!r} (of {len(entries)} files)")
    train = make(entries, train_split, True)
    val = None
    if val_split is not None and any(e.split == val_split for e in entries):
        val = make(entries, val_split, False)
    return Datasets(train=train, val=val)


class Task:
    """Base class of a training stage; see the module docstring for the contract.

    Args:
        recipe: the whole recipe dict (sections ``mel``, ``model``, ``loss_weights``, ``data``, ``train``).
    """

    name = "task"
    ema_models: tuple[str, ...] = ()

    def __init__(self, recipe: dict[str, Any]) -> None:
        self.recipe = recipe
        self.accelerator: Accelerator | None = None
        self.models: dict[str, nn.Module] = {}

    def build_models(self) -> dict[str, nn.Module]:
        """The trainable models by name, freshly initialised on CPU."""
        raise NotImplementedError

    def load_init_weights(self, models: dict[str, nn.Module]) -> list[str]:
        """Start models from saved weights: the recipe's ``init`` section, ``{model name: source}``.

        ``source`` is a path, anything :func:`~audiogen.hub.find_model_folder`
        accepts (a model, pipeline, checkpoint or run folder), or ``{path: ..., only: [name, ...]}``
        to load only the state-dict entries that are, or sit under, the given names (e.g.
        ``[encoder, latent_scale]``: a VAE's encoder into a model with a new, wider decoder; the rest
        keeps its fresh initialisation). The weights pass through :meth:`adapt_init_state` (e.g. to
        grow a label embedding) and must then match the model exactly (the selected part, with
        ``only``). A resumed run loads its checkpoint over these weights afterwards.

        Returns:
            The names of the models that were initialised.

        Raises:
            ValueError: ``init`` names a model this stage does not have, the saved weights do not
                fit the model (names the folder and the mismatching tensors), or ``only`` selects
                nothing.
            FileNotFoundError: no saved model at a path.
        """
        from audiogen.hub import find_model_folder
        from audiogen.models.pretrained import load_model_files

        init = dict(self.recipe.get("init") or {})
        unknown = sorted(set(init) - set(models))
        if unknown:
            raise ValueError(
                f"init: {unknown} are not models of stage {self.name!r} (it has {sorted(models)})"
            )
        for name, source in init.items():
            only = None
            if isinstance(source, dict):
                if set(source) - {"path", "only"} or "path" not in source:
                    raise ValueError(
                        f"init.{name} must be a path or {{path: ..., only: [...]}}, got {source!r}"
                    )
                source, only = source["path"], list(source.get("only") or [])
            folder = find_model_folder(source, name)
            _, config, state = load_model_files(folder)
            state = self.adapt_init_state(name, models[name], state, config)
            if only is not None:
                state = {k: v for k, v in state.items() if any(k == p or k.startswith(p + ".") for p in only)}
                if not state:
                    raise ValueError(f"init.{name}.only: {only} selects no weights of {folder}")
            misfit = (
                f"init.{name}: the weights in {folder} do not fit this recipe's {name} "
                "(use the same model settings as the saved config.json)"
            )
            try:  # with `only`, the model's other entries may be missing, but nothing may be extra
                result = models[name].load_state_dict(state, strict=only is None)
            except RuntimeError as e:
                raise ValueError(f"{misfit}: {e}") from e
            if result.unexpected_keys:
                raise ValueError(f"{misfit}: unexpected keys {result.unexpected_keys[:5]}")
        return list(init)

    def adapt_init_state(
        self, name: str, model: nn.Module, state: dict[str, torch.Tensor], config: dict[str, Any]
    ) -> dict[str, torch.Tensor]:
        """Map saved weights (with their saved ``config``) onto ``model`` before loading (default: as is)."""
        return state

    def freeze_modules(self, models: dict[str, nn.Module]) -> list[str]:
        """Stop training sub-modules: the recipe's ``freeze`` section, ``{model name: [sub-module, ...]}``.

        Every parameter under a named sub-module (a dotted path as in ``named_modules``, e.g.
        ``encoder``; ``""`` is the whole model) gets ``requires_grad = False``, so the optimizer
        leaves it out; EMA copies of it stay equal to it. Used to fine-tune a VAE's decoder while its
        encoder, and so the latent space a trained generator relies on, stays exactly as it was (as
        Stable Diffusion's ``ft-MSE`` VAE decoder was fine-tuned).

        Returns:
            ``"model.sub-module"`` names that were frozen.

        Raises:
            ValueError: ``freeze`` names a model this stage does not have, a sub-module the model
                does not have, or a value that is not a list of names.
        """
        freeze = dict(self.recipe.get("freeze") or {})
        frozen: list[str] = []
        for name, parts in freeze.items():
            if name not in models:
                raise ValueError(
                    f"freeze: {name!r} is not a model of stage {self.name!r} (it has {sorted(models)})"
                )
            if isinstance(parts, str) or not all(isinstance(p, str) for p in parts or []):
                raise ValueError(f"freeze.{name} must be a list of sub-module names, got {parts!r}")
            modules = dict(models[name].named_modules())
            for part in parts or []:
                if part not in modules:
                    children = sorted(n for n, _ in models[name].named_children())
                    raise ValueError(
                        f"freeze.{name}: {part!r} is not a sub-module of {name} (its children: {children})"
                    )
                modules[part].requires_grad_(False)
                frozen.append(f"{name}.{part}" if part else name)
        return frozen

    def build_optimizers(
        self, models: dict[str, nn.Module], config: TrainConfig
    ) -> dict[str, torch.optim.Optimizer]:
        """One AdamW (``config.lr``, ``betas``, ``weight_decay``) over every model, phase ``"main"``."""
        params = [p for m in models.values() for p in m.parameters() if p.requires_grad]
        return {
            "main": torch.optim.AdamW(
                params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
            )
        }

    def _entries(self) -> list[Any]:
        """The training audio: ``data.manifest``'s entries, or a scan of ``data.audio_dir``."""
        from audiogen.data.manifest import read_manifest
        from audiogen.data.scan import scan_folder

        d = self.data_config
        if d.manifest is not None:
            return list(read_manifest(d.manifest))
        scan = scan_folder(d.audio_dir, valid_fraction=d.valid_fraction, progress=False)  # type: ignore[arg-type]
        return list(scan.entries)

    def _cached_input(self, batch: dict[str, Any], key: str, task: str) -> torch.Tensor | None:
        """``batch[key]`` as float32 when the batch carries it (from a cache); ``None`` when the
        input must be computed from ``batch["waveform"]`` (the front end must be set up).

        Raises:
            KeyError: if the batch has neither key.
        """
        if key in batch:
            return batch[key].float()
        if "waveform" not in batch:
            raise KeyError(f"{task} batch needs {key!r} or 'waveform', got keys {sorted(batch)}")
        assert getattr(self, "frontend", None) is not None, "setup() was not called"
        return None

    def _split_datasets(self, entries: list[Any], **dataset_kwargs: Any) -> Datasets:
        """``entries`` split by ``data.train_split`` / ``data.val_split`` (:func:`split_datasets`),
        each part built by ``self._dataset(entries, split, train=..., **dataset_kwargs)``.

        Raises:
            ValueError: if the training split is empty (or as the datasets raise).
        """
        d = self.data_config
        return split_datasets(
            entries,
            d.train_split,
            d.val_split,
            lambda es, split, train: self._dataset(es, split, train=train, **dataset_kwargs),
            d.manifest or d.audio_dir,
        )

    def build_datasets(self) -> Datasets:
        """Training and validation datasets: :meth:`_entries` split by :meth:`_split_datasets`, each
        part built with :meth:`_dataset_options` (e.g. a feature cache).

        Raises:
            ValueError: if the training split is empty (or as the datasets raise).
        """
        entries = self._entries()
        return self._split_datasets(entries, **self._dataset_options(entries))

    def _dataset_options(self, entries: list[Any]) -> dict[str, Any]:
        """Extra keyword arguments of ``self._dataset`` (none here)."""
        return {}

    def setup(self, accelerator: Accelerator, models: dict[str, nn.Module]) -> None:
        """Receive the accelerator and the prepared models; move any helper modules to its device."""
        self.accelerator = accelerator
        self.models = models

    @property
    def device(self) -> torch.device:
        """The accelerator's device (CPU before :meth:`setup`)."""
        return self.accelerator.device if self.accelerator is not None else torch.device("cpu")

    def step(self, batch: dict[str, Any], phase: str) -> dict[str, torch.Tensor]:
        """Named scalar losses of ``batch`` for ``phase`` (an optimizer name), unweighted."""
        raise NotImplementedError

    def validate(self, batch: dict[str, Any], num_samples: int) -> ValidationOutput:
        """Metrics on ``batch`` and up to ``num_samples`` samples (0 on non-main processes)."""
        raise NotImplementedError

    def on_checkpoint(self, train_dataset: torch.utils.data.Dataset) -> None:
        """Called on every process before a checkpoint is written (e.g. to measure statistics)."""

    def export_config(self) -> dict[str, Any]:
        """Extra settings stored in ``trainer_state.json`` (default: none)."""
        return {}
