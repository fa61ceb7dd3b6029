"""One gradient-descent step as a single pure function, for torch.compile to fuse.

The eager step (``richlazy.nets.two_layer.Gradient`` and the update in ``descent``) makes about
eight passes over the (S, n, K·m) pre-activations; compiled, the elementwise work between the two
matrix products fuses into two kernels (the forward reduction, and the slope σ'(pre)·r), so the
activations are written once by the first product, read twice and the slope written once. That
matters where the step is bound by memory traffic: large batches on a GPU (docs/performance.md).
The arithmetic is the eager step's (docs/theory.md §5.3, the reference's semantics); only the
order of floating-point sums may differ.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch._dynamo.exc import FailOnRecompileLimitHit, TorchDynamoException

from richlazy.nets.two_layer import activation

# Below this input dimension the two products over d are written as sums that the compiler fuses
# into the elementwise kernels: a step is then three or four kernels instead of six, which is
# what bounds small networks on a GPU (measured: docs/performance.md).
PRODUCTS_FROM_D = 8


def gd_step(
    W: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor | None,
    X: torch.Tensor,
    y: torch.Tensor,
    step_W: torch.Tensor,
    step_a: torch.Tensor,
    leak: float,
) -> None:
    """θ ← θ − h·η·∇L in place for W (S, K, m, d), a, b (S, K, m) on X (S, n, d), y (S, n).

    ``step_W``, ``step_a`` are h·η broadcast to W and a (b shares W's rate). No loss is
    computed and nothing is masked: a network that diverges goes on with non-finite values,
    which reach no other network (every sum is within one network), and the engine flags it at
    the next checkpoint. That saves a reduction and a dependency per step.
    """
    S, K, m, d = W.shape
    n = X.shape[1]
    inputs = X[:, :, None, None, :]  # (S, n, 1, 1, d)
    if d < PRODUCTS_FROM_D:  # a sum the compiler fuses with its neighbours, no product kernel
        pre = (inputs * W[:, None]).sum(-1)  # (S, n, K, m)
    else:
        pre = torch.bmm(X, W.reshape(S, K * m, d).transpose(1, 2)).view(S, n, K, m)
    if b is not None:
        pre = pre + b[:, None]
    residual = (activation(pre, leak) * a[:, None]).sum(-1) - y[..., None]  # f − y: (S, n, K)
    r = residual[..., None]  # (S, n, K, 1)
    slope = torch.where(pre >= 0, r, r * leak)  # σ'(pre)·r: (S, n, K, m)
    # Σ_i r_i σ'(pre_ik) x_i: (S, K, m, d)
    if d < PRODUCTS_FROM_D:
        g = (slope[..., None] * inputs).sum(1)
    else:
        g = torch.bmm(X.transpose(1, 2), slope.reshape(S, n, K * m))  # (S, d, K·m)
        g = g.view(S, d, K, m).permute(0, 2, 3, 1)
    # ∂L/∂a_k = Σ_i r_i σ(pre_ik) = w_k·g_k + b_k Σ_i r_i σ'(pre_ik), as in Gradient
    grad_a = (g * W).sum(-1)  # (S, K, m)
    if b is not None:
        slope_sum = slope.sum(1)  # (S, K, m)
        grad_a = grad_a + b * slope_sum
    W.sub_(g * a[..., None] * step_W)
    if b is not None:
        b.sub_(slope_sum * a * step_W[..., 0])
    a.sub_(grad_a * step_a)


# Each new shape, dtype, device, leak or bias-or-not compiles anew; torch's default allows 8 per
# function, fewer than a process that trains many problem sizes needs.
RECOMPILE_LIMIT = 256


class _CompiledOrEager:
    """``gd_step`` compiled by torch.compile; if compiling fails on this machine (no working
    compiler for the backend, or more shapes than RECOMPILE_LIMIT), a warning and ``gd_step``
    uncompiled from then on in this process: slower, same results."""

    def __init__(self):
        self.step: Callable[..., None] = torch.compile(gd_step, dynamic=False, fullgraph=True)
        self.compiled = True

    def __call__(self, *args) -> None:
        if not self.compiled:
            gd_step(*args)
            return
        try:
            with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
                self.step(*args)
        except (TorchDynamoException, FailOnRecompileLimitHit) as error:  # before any change
            warnings.warn(
                f"torch.compile failed here ({type(error).__name__}: {str(error)[:200]}); the "
                "fused GD step runs uncompiled from now on in this process (same results, "
                "slower). Pass GD(fuse=False) to use the engine's eager step.",
                stacklevel=2,
            )
            self.compiled = False
            gd_step(*args)


_COMPILED: dict[str, _CompiledOrEager] = {}


def compiled_gd_step() -> Callable[..., None]:
    """``gd_step`` compiled by torch.compile (one compiled function per process)."""
    if "gd_step" not in _COMPILED:
        _COMPILED["gd_step"] = _CompiledOrEager()
    return _COMPILED["gd_step"]
