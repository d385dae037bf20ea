"""The generic training loop on a toy regression task: skipping non-finite steps, stopping,
loss-weight checks, the data order, EMA and the LR schedule."""

import json
import math

import pytest
import torch

from audiogen.training.ema import EMA
from audiogen.training.sampling import EpochSampler
from audiogen.training.tasks import Datasets, Task, ValidationOutput
from audiogen.training.trainer import TrainConfig, Trainer, TrainingError, lr_lambda


class Regression(torch.utils.data.Dataset):
    def __init__(self, n: int = 64):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0])

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


class ToyTask(Task):
    """Linear regression; ``poison`` lists step calls whose loss is NaN (or whose gradient is)."""

    name = "toy"
    ema_models = ("net",)

    def __init__(self, poison=(), poison_grad=(), always_nan=False):
        super().__init__({})
        self.poison, self.poison_grad, self.always_nan = set(poison), set(poison_grad), always_nan
        self.calls = 0
        self.snapshots = []

    def build_models(self):
        return {"net": torch.nn.Linear(4, 1)}

    def build_datasets(self):
        return Datasets(train=Regression(), val=Regression(8))

    def step(self, batch, phase):
        net = self.models["net"]
        self.snapshots.append(net.weight.detach().clone())
        pred = net(batch["x"]).squeeze(-1)
        mse = (pred - batch["y"]).pow(2).mean()
        call, self.calls = self.calls, self.calls + 1
        if self.always_nan or call in self.poison:
            mse = mse * float("nan")
        if call in self.poison_grad:  # finite loss, NaN gradient: d/dw sqrt(0 * w) at 0
            mse = mse + (net.weight * 0).abs().sqrt().sum()
        return {"mse": mse, "abs": (pred - batch["y"]).abs().mean()}

    def validate(self, batch, num_samples):
        pred = self.models["net"](batch["x"]).squeeze(-1)
        return ValidationOutput(metrics={"mse": (pred - batch["y"]).pow(2).mean()})


def _config(**kw):
    base = dict(
        max_steps=12,
        batch_size=8,
        num_workers=0,
        lr=0.05,
        warmup_steps=1,
        log_every=1,
        validate_every=6,
        checkpoint_every=6,
        log_with=None,
        cpu=True,
        ema_decay=0.9,
    )
    return TrainConfig(**{**base, **kw})


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_toy_run_learns_and_writes_checkpoints(tmp_path):
    config = _config(
        max_steps=30, lr=0.3, lr_schedule="constant", grad_clip=None, validate_every=15, checkpoint_every=15
    )
    result = Trainer(ToyTask(), config, tmp_path, {"mse": 1.0}).fit()
    train = [m["train/total"] for m in _metrics(tmp_path) if "train/total" in m]
    assert len(train) == 30 and sum(train[-5:]) < 0.1 * sum(train[:5])
    assert any("val/mse" in m for m in _metrics(tmp_path))
    assert "train/abs" in _metrics(tmp_path)[0]  # unweighted losses are logged too
    assert result.step == 30 and result.nonfinite_steps == 0
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "checkpoint-00000015",
        "checkpoint-00000030",
    ]
    with pytest.raises(TrainingError, match="--resume"):  # refuses to overwrite a run
        Trainer(ToyTask(), _config(), tmp_path, {"mse": 1.0}).fit()


def test_nonfinite_steps_are_skipped_and_counted(tmp_path):
    task = ToyTask(poison={3, 4}, poison_grad={8})
    result = Trainer(task, _config(), tmp_path, {"mse": 1.0}).fit()
    assert result.nonfinite_steps == 3
    s = task.snapshots
    assert not torch.equal(s[2], s[3])  # normal steps update the weights
    assert torch.equal(s[3], s[4]) and torch.equal(s[4], s[5])  # NaN-loss steps 3 and 4: no update
    assert torch.equal(s[8], s[9])  # NaN-gradient step 8: no update
    assert not torch.equal(s[5], s[6])
    assert torch.isfinite(s[-1]).all()
    logged = _metrics(tmp_path)
    assert [m["train/nonfinite_skipped"] for m in logged if "train/nonfinite_skipped" in m][3:5] == [1.0, 1.0]
    assert logged[-2 if "val/mse" in logged[-1] else -1]["train/nonfinite_total"] == 3.0


def test_a_run_of_nonfinite_losses_stops_with_a_message(tmp_path):
    with pytest.raises(TrainingError, match=r"4 consecutive steps had a non-finite loss"):
        Trainer(ToyTask(always_nan=True), _config(max_consecutive_nonfinite=4), tmp_path, {"mse": 1.0}).fit()
    assert not (tmp_path / "checkpoints").exists()


def test_tensorboard_logging_without_tensorboard_names_the_extra(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a)
    )
    with pytest.raises(TrainingError, match=r"audiogen\[train\]"):
        Trainer(ToyTask(), _config(log_with="tensorboard"), tmp_path, {"mse": 1.0}).fit()


def test_unknown_loss_weight_is_an_error(tmp_path):
    with pytest.raises(TrainingError, match="'mse_typo'"):
        Trainer(ToyTask(), _config(), tmp_path, {"mse": 1.0, "mse_typo": 1.0}).fit()


def test_gradient_accumulation_matches_a_large_batch(tmp_path):
    big = Trainer(
        ToyTask(), _config(max_steps=3, batch_size=16, ema_decay=None), tmp_path / "a", {"mse": 1.0}
    )
    big.fit()
    acc = Trainer(
        ToyTask(),
        _config(max_steps=3, batch_size=8, gradient_accumulation_steps=2, ema_decay=None),
        tmp_path / "b",
        {"mse": 1.0},
    )
    acc.fit()
    from safetensors.torch import load_file

    a = load_file(tmp_path / "a/checkpoints/checkpoint-00000003/models/net/model.safetensors")
    b = load_file(tmp_path / "b/checkpoints/checkpoint-00000003/models/net/model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_epoch_sampler_shards_orders_and_resumes():
    def batches(rank, epoch, start=0, replicas=2):
        s = EpochSampler(10, 2, num_replicas=replicas, rank=rank, seed=3)
        s.set_epoch(epoch, start)
        return list(s)

    r0, r1 = batches(0, 0), batches(1, 0)
    assert len(r0) == len(r1) == 4  # 10 // (2 * 2) = 2 global batches of 2 per rank
    assert not {i for i, _ in r0} & {i for i, _ in r1}  # disjoint shards
    assert batches(0, 0) == r0 and batches(0, 1) != r0  # fixed per epoch, new order next epoch
    assert batches(0, 0, start=1) == r0[2:]  # resuming mid-epoch yields exactly the rest
    assert len({seed for _, seed in r0 + r1}) == 8  # one seed per position
    tiny = EpochSampler(3, 4, seed=0)
    assert len(list(tiny)) == 4  # a dataset smaller than a batch is repeated


def test_ema_follows_weights_and_swaps_them_in():
    net = torch.nn.Linear(2, 1)
    ema = EMA(net, decay=0.5)
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)  # first update: decay min(0.5, 2/11)
    d = 2 / 11
    torch.testing.assert_close(ema.shadow["weight"], d * start + (1 - d) * (start + 1.0))
    trained = net.weight.detach().clone()
    with ema.applied_to(net):
        assert torch.equal(net.weight, ema.shadow["weight"])
    assert torch.equal(net.weight, trained)


def test_lr_schedule_warms_up_then_decays():
    f = lr_lambda(TrainConfig(max_steps=100, warmup_steps=10, min_lr_ratio=0.1))
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(100) == pytest.approx(0.1)
    assert 0.1 < f(55) < 1.0
    const = lr_lambda(TrainConfig(max_steps=100, warmup_steps=10, lr_schedule="constant"))
    assert const(99) == 1.0
    with pytest.raises(ValueError, match="mixed_precision"):
        TrainConfig(mixed_precision="fp8")
    assert math.isfinite(f(1000))


class TwoPhaseTask(ToyTask):
    """Two models, two optimizers (phases), as a GAN would have; each phase trains one model."""

    ema_models = ()

    def build_models(self):
        return {"a": torch.nn.Linear(4, 1), "b": torch.nn.Linear(4, 1)}

    def build_optimizers(self, models, config):
        return {name: torch.optim.SGD(models[name].parameters(), lr=0.05) for name in ("a", "b")}

    def step(self, batch, phase):
        a, b = self.models["a"], self.models["b"]
        self.snapshots.append(
            (phase, a.weight.grad, b.weight.grad, a.weight.detach().clone(), b.weight.detach().clone())
        )
        if phase == "a":
            return {"mse_a": (a(batch["x"]).squeeze(-1) - batch["y"]).pow(2).mean()}
        # phase b's loss also reaches model a; that gradient must not leak into a's next update
        return {
            "mse_b": (b(batch["x"]).squeeze(-1) + 0.5 * a(batch["x"]).squeeze(-1) - batch["y"]).pow(2).mean()
        }

    def validate(self, batch, num_samples):
        return ValidationOutput(metrics={})


def test_phases_update_only_their_own_optimizer(tmp_path):
    task = TwoPhaseTask()
    config = _config(max_steps=4, lr_schedule="constant", grad_clip=None, ema_decay=None)
    Trainer(task, config, tmp_path, {"mse_a": 1.0, "mse_b": 1.0}).fit()
    logged = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert "train/total/a" in logged[0] and "train/grad_norm/b" in logged[0]
    assert [s[0] for s in task.snapshots] == ["a", "b"] * 4
    for phase, grad_a, grad_b, _, _ in task.snapshots:
        assert grad_a is None and grad_b is None, phase  # every update clears all gradients
    for i in range(0, 8, 2):
        _, _, _, a_before, b_before = task.snapshots[i]
        _, _, _, a_mid, b_mid = task.snapshots[i + 1]
        assert not torch.equal(a_before, a_mid) and torch.equal(b_before, b_mid)  # phase a moves a only
    for i in range(1, 7, 2):
        _, _, _, a_mid, b_mid = task.snapshots[i]
        _, _, _, a_after, b_after = task.snapshots[i + 1]
        assert torch.equal(a_mid, a_after) and not torch.equal(b_mid, b_after)  # phase b moves b only
    with pytest.raises(TrainingError, match="accumulation"):
        Trainer(TwoPhaseTask(), _config(gradient_accumulation_steps=2), tmp_path / "x", {"mse_a": 1.0}).fit()


class TwoPhaseEMATask(TwoPhaseTask):
    ema_models = ("a", "b")


def test_each_ema_is_updated_once_per_step_by_its_own_phase(tmp_path):
    trainer = Trainer(
        TwoPhaseEMATask(), _config(max_steps=4, lr_schedule="constant", ema_decay=0.9), tmp_path,
        {"mse_a": 1.0, "mse_b": 1.0},
    )
    trainer.fit()
    assert {name: ema.num_updates for name, ema in trainer.ema.items()} == {"a": 4, "b": 4}
