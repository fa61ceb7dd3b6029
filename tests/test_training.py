"""The internals of ``richlazy.nn.training`` that ``fit`` does not show: its vectorized trainer
drops a stopped run from the batch (``fit`` itself: tests/test_nn_training.py)."""

import numpy as np
import torch
from torch import nn

from richlazy.nn import SGD
from richlazy.nn.models import MLP
from richlazy.nn.training import _Vectorized


def _mlps(seeds):
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(MLP(6, 16, 3, 3).double())
    return models


def _data(seed=0, n=40):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g, dtype=torch.float64), torch.randint(
        0, 3, (n,), generator=g
    )


def test_a_stopped_run_leaves_the_vectorized_batch_and_its_outputs_are_kept():
    X, y = _data()
    models = _mlps([0, 1, 2])
    trainer = _Vectorized(models, SGD(0.1, momentum=0.9), {n: 1.0 for n, _ in
                          models[0].named_parameters()}, nn.functional.cross_entropy)  # fmt: skip
    trainer.step([X] * 3, [y] * 3)
    before = [o.clone() for o in trainer.outputs([X] * 3)]
    trainer.freeze(np.array([False, True, False]))
    assert trainer.active.tolist() == [0, 2]
    assert all(p.shape[0] == 2 for p in trainer.params.values())  # (R', ...): run 1 is gone
    momenta = [trainer.optimizer.state[p]["momentum_buffer"] for p in trainer.params.values()]
    assert all(m.shape[0] == 2 for m in momenta)
    trainer.step([X] * 3, [y] * 3)
    other, _ = _data(seed=1)
    on_other = trainer.outputs([other] * 3)[1]  # another input (a test set) between the two
    after = trainer.outputs([X] * 3)
    assert not torch.allclose(on_other, after[1])
    # the stopped run: its outputs at the stop (its model's forward against the vmapped one,
    # float64: equal up to rounding)
    torch.testing.assert_close(after[1], before[1], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(after[0], before[0]) and not torch.allclose(after[2], before[2])
    trainer.write_back()
    torch.testing.assert_close(models[1](X).detach(), before[1], rtol=1e-12, atol=1e-12)
