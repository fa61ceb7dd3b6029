"""The torch.func routes of the eNTK: per-sample gradients of one module, or of the whole model.

``model_jacobian`` is the brute-force route of the PyTorch tutorial (``vmap(jacrev)`` over the
probe points): the exact fallback for parameters the fast routes cannot see, and the oracle of
the tests. ``module_per_sample`` is the same on one module called on its recorded inputs with
its recorded output gradients (``vjp``), for layers such as BatchNorm in eval mode.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jacrev, vjp, vmap

F64 = torch.float64


def model_jacobian(
    model: nn.Module,
    x: torch.Tensor,
    params: dict[str, torch.Tensor],
    raw: dict[str, str],
    *,
    summed: bool,
) -> dict[str, torch.Tensor]:
    """∂f(x_n)/∂θ for the parameters ``params`` (detached): name -> (b, R, numel) in float64.

    R = 1 with ``summed`` (the gradient of Σ_o f_o), else R = O. ``raw`` maps the names to
    those of ``model.named_parameters()``; the other parameters are constants.
    """
    params = {raw[n]: p for n, p in params.items()}
    back = {raw[n]: n for n in raw}
    constants = {n: p.detach() for n, p in model.named_parameters() if n not in params}

    def single(p, xi):
        values = {**constants, **p}  # no graph through the model's own parameters
        out = functional_call(model, values, (xi.unsqueeze(0),), strict=False).reshape(-1)
        return out.sum().unsqueeze(0) if summed else out  # (R,)

    try:
        jac = vmap(jacrev(single), in_dims=(None, 0))(params, x)  # name -> (b, R, *shape)
    except torch.OutOfMemoryError:
        raise
    except RuntimeError:  # an operation torch.func cannot batch (nn.RNN, F.prelu): point by point
        jac = _looped_jacobian(model, x, params, constants, summed=summed)
    return {back[n]: j.reshape(j.shape[0], j.shape[1], -1).to(F64) for n, j in jac.items()}


def _looped_jacobian(model, x, params, constants, *, summed: bool) -> dict[str, torch.Tensor]:
    """``model_jacobian`` by plain autograd, one probe point and one output at a time."""
    leaves = {n: p.detach().requires_grad_() for n, p in params.items()}
    rows = []
    for xi in x:
        with torch.enable_grad():
            out = functional_call(model, {**constants, **leaves}, (xi.unsqueeze(0),), strict=False)
            out = out.reshape(-1)
            outs = [out.sum()] if summed else list(out)
            grads = []
            for r, o in enumerate(outs):
                found = torch.autograd.grad(o, list(leaves.values()), allow_unused=True,
                                            retain_graph=r + 1 < len(outs))  # fmt: skip
                grads.append([torch.zeros_like(p) if g is None else g
                              for g, p in zip(found, leaves.values(), strict=True)])  # fmt: skip
        rows.append({n: torch.stack([g[i] for g in grads]) for i, n in enumerate(leaves)})
    return {n: torch.stack([row[n] for row in rows]) for n in leaves}  # name -> (b, R, *shape)


def module_per_sample(
    module: nn.Module,
    inputs: torch.Tensor,
    grads: torch.Tensor,
    params: dict[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Per-sample gradients of one module's parameters, from its input and output gradients.

    Args:
        inputs: the module's input on b probe points, (b, ...).
        grads: ∂f_r/∂y of its output, (b, R, ...).
        params: ``{name relative to the module: detached tensor}``.

    Returns:
        name -> (b, R, numel) float64.
    """

    constants = {n: p.detach() for n, p in module.named_parameters() if n not in params}

    def single(xi, gi):
        def call(p):
            values = {**constants, **p}
            return functional_call(module, values, (xi.unsqueeze(0),), strict=False).squeeze(0)

        _, pullback = vjp(call, params)
        return vmap(pullback)(gi)[0]  # name -> (R, *shape)

    grads_n = vmap(single)(inputs, grads)  # name -> (b, R, *shape)
    return {n: g.reshape(g.shape[0], g.shape[1], -1).to(F64) for n, g in grads_n.items()}
