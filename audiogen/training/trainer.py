"""The one training loop of every stage (Accelerate), readable top to bottom.

:class:`Trainer` takes a :class:`~audiogen.training.tasks.Task` (models, data, losses of one stage)
and a :class:`TrainConfig`, and runs::

    for step in range(start, max_steps):
        for each micro-batch (gradient accumulation) and each phase (optimizer) of the task:
            losses = task.step(batch, phase)        # under autocast (no / fp16 / bf16)
            total = Σ loss_weights[name] * losses[name]
            skip the update if total is not finite on any process (counted; K in a row stops the run)
            backward; on the last micro-batch: clip, optimizer step, LR schedule, EMA update
        every log_every steps: averaged losses → TensorBoard + metrics.jsonl + progress bar
        every validate_every steps: validation metrics and samples (WAV + PNG) with EMA weights
        every checkpoint_every steps: an atomic checkpoint (main process writes; contents:
            checkpoint.write_trainer_state)

Resuming (``resume=True``) restores weights, EMA, optimizer, scheduler, grad scaler, every
process's RNG state and the position inside the epoch, so an interrupted run continues exactly as
if it had not stopped. Data order is fixed by ``(seed, epoch)``, and each item is fetched under its
own seed derived from ``(seed, epoch, position)``, so random crops are the same whatever
``num_workers`` is and after a resume (on the same number of threads and processes: float sums
depend on the split). ``metrics.jsonl`` drops what the interrupted run logged after the checkpoint
it resumes from, so each step is recorded once. Run multi-process unchanged with ``accelerate launch``;
on several machines, caches are built once in all or once per machine (``train.shared_cache``), a
resume uses the newest checkpoint any machine holds, and a lost process stops the others with one
line after at most ``train.dist_timeout_s`` (:mod:`audiogen.training.distributed`).

Run folder layout::

    recipe.yaml  metrics.jsonl  logs/ (TensorBoard)  samples/step-XXXXXXXX/  checkpoints/checkpoint-XXXXXXXX/
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from audiogen.training.checkpoint import (
    capture_rng_state,
    load_trainer_state,
    preserved_rng,
    seed_all,
    trim_metrics_log,
    write_checkpoint,
    write_trainer_state,
)
from audiogen.training.distributed import (
    agree_on_checkpoint,
    cache_builders_first,
    is_communication_error,
    lost_contact_message,
    start_process_group,
)
from audiogen.training.ema import EMA
from audiogen.training.sampling import EpochSampler, SeededItems, to_device
from audiogen.training.tasks.base import Sample, Task, write_samples
from audiogen.training.train_config import TrainConfig, TrainingError, TrainResult, lr_lambda


def _flatten_for_hparams(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten_for_hparams(v, key + "."))
        elif isinstance(v, bool | int | float | str):
            out[key] = v
        else:
            out[key] = str(v)
    return out


class Trainer:
    """Runs a :class:`Task` with Accelerate; see the module docstring.

    Args:
        task: the stage.
        config: loop settings.
        run_dir: output folder (logs, samples, checkpoints).
        loss_weights: ``{loss name: weight}``; names the task returns without a weight are only
            logged. A weight whose name the task never returns is an error (catches typos).
        recipe: the full recipe, stored in ``recipe.yaml`` and every checkpoint.
    """

    def __init__(
        self,
        task: Task,
        config: TrainConfig,
        run_dir: str | Path,
        loss_weights: dict[str, float] | None = None,
        recipe: dict[str, Any] | None = None,
    ) -> None:
        self.task, self.config, self.run_dir = task, config, Path(run_dir)
        self.loss_weights = dict(loss_weights or {})
        self.recipe = recipe or {}
        self.checkpoints_dir = self.run_dir / "checkpoints"
        self.step = self.epoch = self.batch_in_epoch = 0
        self.nonfinite_steps = self.consecutive_nonfinite = 0
        self.last_checkpoint: Path | None = None
        self.last_losses: dict[str, float] = {}
        self._seen_losses: set[str] = set()
        self._weights_checked = False
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    # ---------------------------------------------------------------- setup
    def _setup(self, resume: bool) -> None:
        from accelerate import Accelerator
        from accelerate.utils import ProjectConfiguration

        cfg = self.config
        if cfg.log_with == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
            raise TrainingError(
                "train.log_with is tensorboard but tensorboard is not installed: pip install "
                "'audiogen[train]', or set train.log_with=null"
            )
        cpu = cfg.cpu or not torch.cuda.is_available()  # CPU-only: a gloo group under accelerate launch
        start_process_group(cpu, cfg.dist_timeout_s)
        self.accelerator = acc = Accelerator(
            mixed_precision=cfg.mixed_precision,
            gradient_accumulation_steps=cfg.gradient_accumulation_steps,
            log_with=cfg.log_with,
            project_config=ProjectConfiguration(project_dir=str(self.run_dir), logging_dir=str(self.run_dir)),
            cpu=cpu,
            step_scheduler_with_optimizer=False,
        )
        # the same answer on every process; a machine that lacks the checkpoint receives a copy
        checkpoint = agree_on_checkpoint(acc, self.checkpoints_dir, resume, keep=cfg.keep_checkpoints)
        from audiogen.training.run_folder import claim_run_folder  # lock, ownership, data check

        self._run_lock = claim_run_folder(acc, self.run_dir, checkpoint is not None, self.recipe.get("data"))
        seed_all(cfg.seed)  # identical initial weights on every process
        models = self.task.build_models()
        initialised = self.task.load_init_weights(models)
        if initialised:
            acc.print(f"initialised {', '.join(initialised)} from {self.recipe.get('init')}")
        frozen = self.task.freeze_modules(models)
        if frozen:
            acc.print(f"frozen (not trained): {', '.join(frozen)}")
        if cfg.gradient_checkpointing:
            able = [n for n, m in models.items() if hasattr(m, "enable_gradient_checkpointing")]
            if not able:
                raise TrainingError(f"train.gradient_checkpointing: no model of {sorted(models)} supports it")
            for n in able:
                models[n].enable_gradient_checkpointing()
        optimizers = self.task.build_optimizers(models, cfg)
        if len(optimizers) > 1 and cfg.gradient_accumulation_steps > 1:
            raise TrainingError("gradient accumulation with several optimizers (phases) is not supported")
        self.schedulers = {
            n: torch.optim.lr_scheduler.LambdaLR(o, lr_lambda(cfg)) for n, o in optimizers.items()
        }
        prepared = acc.prepare(*models.values(), *optimizers.values())
        self.models = dict(zip(models, prepared[: len(models)], strict=True))
        self.optimizers = dict(zip(optimizers, prepared[len(models) :], strict=True))
        self.ema = {}
        self._ema_phases: dict[str, list[str]] = {}
        if cfg.ema_decay is not None:
            self.ema = {n: EMA(acc.unwrap_model(self.models[n]), cfg.ema_decay) for n in self.task.ema_models}

        with cache_builders_first(acc, cfg.shared_cache):  # once in all, or once per machine
            data = self.task.build_datasets()
        self.train_dataset = data.train
        n, rank = acc.num_processes, acc.process_index
        self.train_sampler = EpochSampler(
            len(data.train), cfg.batch_size, n, rank, shuffle=True, seed=cfg.seed
        )
        self.train_loader = self._loader(data.train, self.train_sampler)
        self.val_loader = None
        if data.val is not None and len(data.val) > 0:
            val_sampler = EpochSampler(
                len(data.val), cfg.batch_size, n, rank, shuffle=False, seed=cfg.seed + 1, drop_last=False
            )
            self.val_loader = self._loader(data.val, val_sampler)
        self.task.setup(acc, self.models)

        if checkpoint is not None:
            load_trainer_state(self, checkpoint)
        else:
            if resume:
                acc.print(f"no complete checkpoint in {self.checkpoints_dir}; starting from step 0")
            seed_all(cfg.seed * 7919 + 104_729 * (acc.process_index + 1))
        if acc.is_main_process:
            from omegaconf import OmegaConf

            self.run_dir.mkdir(parents=True, exist_ok=True)
            if checkpoint is None:
                (self.run_dir / "metrics.jsonl").unlink(missing_ok=True)
            else:
                dropped = trim_metrics_log(self.run_dir / "metrics.jsonl", self.step)
                if dropped:
                    acc.print(f"metrics.jsonl: dropped {dropped} records logged after step {self.step}")
            OmegaConf.save(OmegaConf.create(self.recipe), self.run_dir / "recipe.yaml")
        if cfg.log_with:
            acc.init_trackers("logs", config=_flatten_for_hparams(self.recipe))

    def _loader(
        self, dataset: torch.utils.data.Dataset, sampler: EpochSampler
    ) -> torch.utils.data.DataLoader:
        workers = self.config.num_workers
        return torch.utils.data.DataLoader(
            SeededItems(dataset),
            batch_size=sampler.batch_size,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=self.accelerator.device.type == "cuda",
            drop_last=False,
            generator=torch.Generator().manual_seed(self.config.seed),  # keeps the global RNG untouched
        )

    def _train_batches(self) -> Iterator[Any]:
        """Endless micro-batches; ``epoch`` / ``batch_in_epoch`` always name the next one to read."""
        while True:
            self.train_sampler.set_epoch(self.epoch, self.batch_in_epoch)
            for batch in self.train_loader:
                self.batch_in_epoch += 1
                yield to_device(batch, self.accelerator.device)
            self.epoch += 1
            self.batch_in_epoch = 0

    # ---------------------------------------------------------------- the loop
    def fit(self, resume: bool = False) -> TrainResult:
        """Train to ``config.max_steps`` (from the newest complete checkpoint if ``resume``).

        Raises:
            TrainingError: if the run folder already has checkpoints and ``resume`` is false, or
                ``max_consecutive_nonfinite`` steps in a row had a non-finite loss or gradient.
        """
        from tqdm.auto import tqdm

        progress = None
        try:
            self._setup(resume)
            acc, cfg = self.accelerator, self.config
            batches = self._train_batches()
            self._ok_steps, self._skipped_since_log, self._train_seconds = 0, 0, 0.0
            progress = tqdm(
                total=cfg.max_steps,
                initial=self.step,
                disable=not acc.is_main_process,
                desc=f"train {self.task.name}",
                dynamic_ncols=True,
            )
            while self.step < cfg.max_steps:
                t0 = time.perf_counter()
                self._train_step(batches)
                self._train_seconds += time.perf_counter() - t0  # data + step, not validation/checkpoints
                self.step += 1
                progress.update(1)
                done = self.step == cfg.max_steps
                if self.step % cfg.log_every == 0 or done:
                    self._log(progress)
                if (cfg.validate_every and self.step % cfg.validate_every == 0) or done:
                    self._validate()
                if self.step % cfg.checkpoint_every == 0 or done:
                    self._save()
            progress.close()
            return TrainResult(
                self.step, self.run_dir, self.last_checkpoint, self.nonfinite_steps, dict(self.last_losses)
            )
        except RuntimeError as e:  # a peer process is gone: one clear line instead of a gloo/NCCL trace
            acc = getattr(self, "accelerator", None)
            if acc is None or acc.num_processes == 1 or not is_communication_error(e):
                raise
            if progress is not None:
                progress.close()  # the message starts on a line of its own
            raise TrainingError(
                lost_contact_message(e, self.step, self.last_checkpoint, self.config.dist_timeout_s)
            ) from e
        finally:
            self._teardown()

    def _train_step(self, batches: Iterator[Any]) -> None:
        """One optimizer step per phase over ``gradient_accumulation_steps`` micro-batches."""
        acc, cfg = self.accelerator, self.config
        skipped = False
        nonfinite_loss = {phase: False for phase in self.optimizers}
        for _ in range(cfg.gradient_accumulation_steps):
            batch = next(batches)
            for phase, optimizer in self.optimizers.items():
                with acc.accumulate(*self.models.values()):
                    with acc.autocast():
                        losses = self.task.step(batch, phase)
                    total = self._weighted_total(losses, phase)
                    finite = bool(acc.gather(torch.isfinite(total.detach()).float().reshape(1)).min().item())
                    if finite:
                        acc.backward(total)
                        self._accumulate_log(losses, total, phase)
                    else:
                        nonfinite_loss[phase] = True
                    if acc.sync_gradients:
                        skipped |= not self._update(phase, optimizer, nonfinite_loss[phase])
        if not self._weights_checked:  # a weight whose loss never appears is a typo in the recipe
            unknown = sorted(set(self.loss_weights) - self._seen_losses)
            if unknown:
                raise TrainingError(
                    f"loss_weights names {unknown}, which the {self.task.name} task does not "
                    f"return; it returns {sorted(self._seen_losses)}"
                )
            self._weights_checked = True
        if skipped:
            self.nonfinite_steps += 1
            self._skipped_since_log += 1
            self.consecutive_nonfinite += 1
            acc.print(
                f"step {self.step + 1}: non-finite loss or gradient, update skipped "
                f"({self.consecutive_nonfinite} in a row, {self.nonfinite_steps} in total)"
            )
            if self.consecutive_nonfinite >= cfg.max_consecutive_nonfinite:
                raise TrainingError(
                    f"stopping at step {self.step + 1}: {self.consecutive_nonfinite} consecutive steps had a "
                    f"non-finite loss or gradient (train.max_consecutive_nonfinite="
                    f"{cfg.max_consecutive_nonfinite}); lower train.lr, use bf16 instead of fp16, or check "
                    f"the data. The last good checkpoint is in {self.checkpoints_dir}"
                )
        else:
            self.consecutive_nonfinite = 0
            self._ok_steps += 1

    def _weighted_total(self, losses: dict[str, torch.Tensor], phase: str) -> torch.Tensor:
        """``Σ loss_weights[name] * losses[name]`` over the names with a non-zero weight."""
        self._seen_losses |= set(losses)
        terms = [self.loss_weights[n] * v.float() for n, v in losses.items() if self.loss_weights.get(n, 0.0)]
        if not terms:
            raise TrainingError(
                f"phase {phase!r}: no loss has a non-zero weight; returned {sorted(losses)}, "
                f"loss_weights {self.loss_weights}"
            )
        return torch.stack(terms).sum()

    def _update(self, phase: str, optimizer: torch.optim.Optimizer, nonfinite_loss: bool) -> bool:
        """Clip, step, schedule and EMA-update after the last micro-batch; ``False`` if skipped."""
        acc, cfg = self.accelerator, self.config
        ok = not nonfinite_loss
        if ok:
            params = [p for m in self.models.values() for p in m.parameters() if p.grad is not None]
            max_norm = cfg.grad_clip if cfg.grad_clip is not None else float("inf")
            norm = acc.clip_grad_norm_(params, max_norm) if params else torch.zeros(())
            norm = torch.as_tensor(norm, dtype=torch.float32)
            # fp16: inf gradients are the grad scaler's business (it skips the step and lowers the scale)
            ok = bool(torch.isfinite(norm)) or cfg.mixed_precision == "fp16"
            if bool(torch.isfinite(norm)):
                self._add(f"grad_norm/{phase}", norm.detach().to(acc.device))
        if ok:
            optimizer.step()
            if not acc.optimizer_step_was_skipped:
                self.schedulers[phase].step()
                for name in self._emas_stepped_by(phase, optimizer):
                    self.ema[name].update(acc.unwrap_model(self.models[name]))
        for m in self.models.values():
            m.zero_grad(set_to_none=True)
        return ok

    def _emas_stepped_by(self, phase: str, optimizer: torch.optim.Optimizer) -> list[str]:
        """EMA'd models with parameters in ``optimizer``: with several phases (a GAN), each EMA is
        updated once per step, after the optimizer that owns its weights, not after every phase."""
        if phase not in self._ema_phases:
            owned = {id(p) for group in optimizer.param_groups for p in group["params"]}
            self._ema_phases[phase] = [
                name for name in self.ema
                if any(id(p) in owned for p in self.accelerator.unwrap_model(self.models[name]).parameters())
            ]
        return self._ema_phases[phase]

    # ---------------------------------------------------------------- logging
    def _add(self, name: str, value: torch.Tensor) -> None:
        value = value.detach().float()
        self._sums[name] = self._sums[name] + value if name in self._sums else value.clone()
        self._counts[name] = self._counts.get(name, 0) + 1

    def _accumulate_log(self, losses: dict[str, torch.Tensor], total: torch.Tensor, phase: str) -> None:
        for name, value in losses.items():
            self._add(name, value)
        self._add("total" if len(self.optimizers) == 1 else f"total/{phase}", total)

    def _log(self, progress: Any) -> None:
        acc = self.accelerator
        values: dict[str, float] = {}
        if self._sums:
            names = sorted(self._sums)
            means = torch.stack([self._sums[n] / self._counts[n] for n in names]).to(acc.device)
            means = acc.reduce(means, reduction="mean")
            values = {f"train/{n}": float(v) for n, v in zip(names, means.tolist(), strict=True)}
            self.last_losses = values
        for name, sched in self.schedulers.items():
            values[f"lr/{name}"] = sched.get_last_lr()[0]
        values["train/nonfinite_skipped"] = float(self._skipped_since_log)
        values["train/nonfinite_total"] = float(self.nonfinite_steps)
        steps = self._ok_steps + self._skipped_since_log
        values["train/steps_per_second"] = steps / max(self._train_seconds, 1e-9)
        if self.config.log_with:
            acc.log(values, step=self.step)
        if acc.is_main_process:
            with open(self.run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps({"step": self.step, **values}) + "\n")
            if "train/total" in values:
                progress.set_postfix(loss=f"{values['train/total']:.4f}", skipped=self.nonfinite_steps)
        self._sums, self._counts = {}, {}
        self._ok_steps, self._skipped_since_log, self._train_seconds = 0, 0, 0.0

    # ---------------------------------------------------------------- validation
    @contextlib.contextmanager
    def _eval_weights(self) -> Iterator[None]:
        """Eval mode with the EMA weights swapped in; the global RNG state is left as it was."""
        acc = self.accelerator
        with preserved_rng(), contextlib.ExitStack() as stack:
            for name, ema in self.ema.items():
                stack.enter_context(ema.applied_to(acc.unwrap_model(self.models[name])))
            for m in self.models.values():
                m.eval()
            try:
                yield
            finally:
                for m in self.models.values():
                    m.train()

    def _validate(self) -> None:
        if self.val_loader is None:
            return
        acc, cfg = self.accelerator, self.config
        sums: dict[str, torch.Tensor] = {}
        samples: list[Sample] = []
        with self._eval_weights(), torch.no_grad(), acc.autocast():
            for i, batch in enumerate(self.val_loader):
                if i >= cfg.val_batches:
                    break
                want = cfg.num_samples if (i == 0 and acc.is_main_process) else 0
                out = self.task.validate(to_device(batch, acc.device), want)
                for k, v in out.metrics.items():
                    sums[k] = sums.get(k, 0.0) + v.detach().float()
                samples += out.samples
        if sums:
            names = sorted(sums)
            means = acc.reduce(
                torch.stack([sums[n] for n in names]).to(acc.device)
                / min(cfg.val_batches, len(self.val_loader)),
                reduction="mean",
            )
            values = {f"val/{n}": float(v) for n, v in zip(names, means.tolist(), strict=True)}
            if cfg.log_with:
                acc.log(values, step=self.step)
            if acc.is_main_process:
                with open(self.run_dir / "metrics.jsonl", "a") as f:
                    f.write(json.dumps({"step": self.step, **values}) + "\n")
        if acc.is_main_process and samples:
            self._write_samples(samples)

    def _write_samples(self, samples: list[Sample]) -> None:
        writer = None
        if self.config.log_with == "tensorboard":
            writer = self.accelerator.get_tracker("tensorboard", unwrap=True)
        write_samples(self.run_dir / "samples" / f"step-{self.step:08d}", samples, self.step, writer)

    # ---------------------------------------------------------------- checkpoints
    def _save(self) -> None:
        from accelerate.utils import gather_object

        acc = self.accelerator
        with self._eval_weights():  # statistics measured with the weights that get exported (EMA)
            self.task.on_checkpoint(self.train_dataset)
        rng_states = gather_object([capture_rng_state()])
        if acc.is_main_process:
            self.last_checkpoint = write_checkpoint(
                self.checkpoints_dir,
                self.step,
                lambda tmp: write_trainer_state(self, tmp, rng_states),
                keep=self.config.keep_checkpoints,
            )
        acc.wait_for_everyone()
        if not acc.is_main_process:
            self.last_checkpoint = self.checkpoints_dir / f"checkpoint-{self.step:08d}"

    def _teardown(self) -> None:
        from accelerate.state import AcceleratorState, GradientState

        lock = getattr(self, "_run_lock", None)
        if lock is not None:
            lock.release()
        acc = getattr(self, "accelerator", None)
        if acc is not None:
            # not acc.end_training(): that also destroys the process group, and re-creating it for a
            # next stage in the same processes (audiogen finetune) races; see end_distributed()
            for tracker in acc.trackers:
                tracker.finish()
        # a later Trainer in the same process (tests, benchmarks) starts from a clean Accelerate state
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
