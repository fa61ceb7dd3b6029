"""The torch.compile-fused GD step (richlazy.train.fused) against the eager engine step, which
the engine tests hold to the NumPy reference; and when the engine fuses by default."""

import numpy as np
import pytest
import torch
from torch._dynamo.exc import BackendCompilerFailed

from richlazy.train import GD, fused, train
from richlazy.train.descent import FUSE_FROM_ACTIVATION_STEPS
from richlazy.train.fused import PRODUCTS_FROM_D
from richlazy.train.replay import StepReplay
from test_train import random_batch

pytestmark = [
    pytest.mark.usefixtures("single_thread"),
    # a compilation that silently fell back to the uncompiled step would not test the compiler
    pytest.mark.filterwarnings("error:torch.compile failed"),
]


@pytest.mark.parametrize(
    ("leak", "bias", "d"),
    [(0.0, False, 3), (0.1, True, 3), (1.0, True, 3), (0.0, False, PRODUCTS_FROM_D)],
)
def test_fused_steps_equal_eager_steps(leak, bias, d, device):
    """Both forms of the fused step: sums over small d, matrix products from PRODUCTS_FROM_D."""
    S, K = 2, 3
    nets, X, y = random_batch(
        30 + int(10 * leak), S=S, K=K, m=6, d=d, n=12, leak=leak, bias=bias, device=device
    )
    lr = np.random.default_rng(2).uniform(0.01, 0.04, size=(S, K))
    lr[1, 1] = 1e4  # this network diverges: it must be frozen at NaN in both
    options = {"lr": lr, "checkpoints": [0, 3, 40, 150], "eta_a": 1.5, "eta_w": 0.7}
    eager = train(nets.clone(), X, y, solver=GD(fuse=False), **options)
    fused = train(nets.clone(), X, y, solver=GD(fuse=True), **options)
    assert fused.fused and not eager.fused  # each run says how it ran

    expected = np.zeros((S, K), dtype=bool)
    expected[1, 1] = True
    np.testing.assert_array_equal(eager.diverged, expected)
    np.testing.assert_array_equal(fused.diverged, expected)
    for e, f in zip(eager.snapshots, fused.snapshots, strict=True):
        for te, tf in zip(e.tensors, f.tensors, strict=True):
            torch.testing.assert_close(tf, te, rtol=1e-12, atol=1e-12, equal_nan=True)
    # not vacuous: the networks that did not diverge moved far from where they started
    moved = (fused.snapshots[-1].W - nets.W).abs().amax((-1, -2))
    assert float(moved[~torch.as_tensor(expected, device=moved.device)].min()) > 1e-2


def test_fusing_by_default_only_for_large_batches_on_a_gpu(device):
    small = random_batch(0, S=1, K=2, m=4, d=3, n=8, leak=0.0, bias=False, device=device)
    large = random_batch(0, S=1, K=64, m=128, d=2, n=256, leak=0.0, bias=False, device=device)
    fuses = GD().fuses  # the engine's rule (fuse=None)
    assert not fuses(*small[:2])
    assert not fuses(*small[:2], steps=1000)
    assert GD(fuse=True).fuses(*small[:2]) and not GD(fuse=False).fuses(*large[:2])
    # on the CPU the eager step was measured faster at large sizes, and small runs are short
    on_gpu = device == "cuda"
    assert fuses(*large[:2]) == on_gpu
    assert fuses(*small[:2], steps=FUSE_FROM_ACTIVATION_STEPS) == on_gpu  # long runs


def test_a_failed_compilation_falls_back_to_the_uncompiled_step(monkeypatch):
    def broken_compiler(function, **options):
        def compiled(*args):
            raise BackendCompilerFailed(broken_compiler, RuntimeError("no compiler"), None)

        return compiled

    monkeypatch.setattr(fused.torch, "compile", broken_compiler)
    monkeypatch.setattr(fused, "_COMPILED", {})
    nets, X, y = random_batch(5, S=1, K=2, m=4, d=3, n=8, leak=0.0, bias=True)
    options = {"lr": 0.02, "checkpoints": [0, 30]}
    eager = train(nets.clone(), X, y, solver=GD(fuse=False), **options)
    with pytest.warns(UserWarning, match="runs uncompiled"):
        fallback = train(nets.clone(), X, y, solver=GD(fuse=True), **options)
    for e, f in zip(eager.snapshots[-1].tensors, fallback.snapshots[-1].tensors, strict=True):
        torch.testing.assert_close(f, e, rtol=1e-12, atol=1e-12)


def test_the_step_compiles_for_many_shapes_without_falling_back(monkeypatch):
    monkeypatch.setattr(fused, "_COMPILED", {})
    for n in range(4, 14):  # ten shapes: more than torch's default of eight compilations
        nets, X, y = random_batch(n, S=1, K=2, m=4, d=3, n=n, leak=0.0, bias=False)
        train(nets, X, y, lr=0.01, checkpoints=[0, 2], solver=GD(fuse=True))
    assert fused._COMPILED["gd_step"].compiled


def test_graph_replays_run_every_step_once(monkeypatch):
    """The CUDA path's bookkeeping, with the warm-up and the graphs replaced by counters."""
    calls = []

    class Graph:
        def __init__(self, size):
            self.size = size

        def replay(self):
            calls.extend(["replayed"] * self.size)

    captured = []

    def capture(self, size):
        captured.append(size)
        return Graph(size)

    def warm_up(self):
        calls.append("eager")
        self.done += 1

    monkeypatch.setattr(StepReplay, "_capture", capture)
    monkeypatch.setattr(StepReplay, "_warm_up", warm_up)
    runs = StepReplay(lambda: None, replay=True)
    counts = [1, 1, 70, 5, 1000, 0, 33]
    for count in counts:
        runs(count)
    assert len(calls) == sum(counts)
    assert calls[: StepReplay.WARMUP] == ["eager"] * StepReplay.WARMUP
    assert "eager" not in calls[StepReplay.WARMUP :]
    assert sorted(captured) == [1, StepReplay.BLOCK]  # captured once, on first need
