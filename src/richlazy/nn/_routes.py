"""Per-layer pieces of the empirical NTK (docs/theory.md §6.2), exact, summed in float64.

Two routes for a layer's weight, chosen by their cost in multiply-adds:

- *Gram*: for y_s = W x_s (Linear over positions s, or a convolution over its patches) the block
  is Σ_{s,s'} (x_s·x'_s')(g_s·g'_s'), g = ∂f/∂y, with no per-sample gradient. For a convolution
  the patch Gram is built from the input Gram by summing its k_h·k_w shifted, strided diagonals.
  An Embedding is the case where x_s is a one-hot token (x_s·x'_s' = 1[t_s = t'_s']).
- *Per-sample*: the gradient of each probe point, G_n = Σ_s g_s x_sᵀ (``F.unfold`` patches for a
  convolution), contracted as G Gᵀ. Cheaper when positions are many and weights few.

Everything else (biases, normalisation layers, PReLU, shared weights, the torch.func fallback)
is contracted from per-sample gradients. Precision: per-sample gradients are computed in the
model's dtype, as its own backward pass would compute them; every sum that makes up the kernel
(over parameters, pairs of positions or patches, layers) is taken in float64, Gram factors
included.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)
from torch import nn

F64 = torch.float64


def tiles(n: int, size: int) -> list[slice]:
    size = max(1, size)
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


# ---------------------------------------------------------------- convolution geometry
def conv_geometry(module: nn.Module, in_shape: tuple[int, ...]) -> dict:
    """Kernel, stride, dilation and explicit zero padding of a Conv1d/Conv2d as 2-D values."""
    one = isinstance(module, nn.Conv1d)
    kernel = ((1,) if one else ()) + tuple(module.kernel_size)
    stride = ((1,) if one else ()) + tuple(module.stride)
    dilation = ((1,) if one else ()) + tuple(module.dilation)
    if isinstance(module.padding, str):
        if module.padding == "valid":
            pads = ((0, 0), (0, 0))
        else:  # "same": total d(k-1), the extra on the right as torch does
            total = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
            pads = tuple((t // 2, t - t // 2) for t in total)
    else:
        padding = ((0,) if one else ()) + tuple(module.padding)
        pads = tuple((p, p) for p in padding)
    H, W = (1, in_shape[-1]) if one else tuple(in_shape[-2:])
    Hp, Wp = H + sum(pads[0]), W + sum(pads[1])
    out = tuple(
        (size - d * (k - 1) - 1) // s + 1
        for size, d, k, s in zip((Hp, Wp), dilation, kernel, stride, strict=True)
    )
    return dict(kernel=kernel, stride=stride, dilation=dilation, pads=pads, H=H, W=W,
                Hp=Hp, Wp=Wp, out=out, groups=module.groups, C=module.in_channels)  # fmt: skip


def as_2d(x: torch.Tensor, geometry: dict) -> torch.Tensor:
    """(b, C, L) -> (b, C, 1, L) for Conv1d; 2-D inputs unchanged."""
    return x.unsqueeze(-2) if x.ndim == 3 else x


# ---------------------------------------------------------------- per-sample gradients
def linear_per_sample(x, g, weight: bool, bias: bool):
    """Linear: x (b, *S, in), g (b, R, *S, out) -> weight (b, R, out·in), bias (b, R, out)."""
    b, R = g.shape[:2]
    g = g.reshape(b, R, -1, g.shape[-1]).to(F64)  # (b, R, S, out)
    w = None
    if weight:
        x = x.reshape(b, -1, x.shape[-1]).to(F64)  # (b, S, in)
        w = torch.matmul(g.transpose(-1, -2), x[:, None]).reshape(b, R, -1)  # (b, R, out·in)
    return w, (g.sum(2) if bias else None)


def conv_per_sample(module, x, g, geometry, weight: bool, bias: bool):
    """Conv: weight (b, R, O·C/groups·kh·kw) and bias (b, R, O) per probe point.

    Computed in the model's dtype (float64 stays float64): from unfolded patches, or, for
    float32/16 on many output positions, by the convolution's own weight-gradient kernel with
    the probe points as groups (measured 1.5–2× faster there on a 2-core CPU).
    """
    b, R, O = g.shape[:3]
    bias_grad = g.reshape(b, R, O, -1).sum(-1) if bias else None
    if not weight:
        return None, bias_grad
    x = as_2d(x, geometry)
    g = g.reshape(b, R, O, *geometry["out"])  # (b, R, O, Ho, Wo)
    (top, bottom), (left, right) = geometry["pads"]
    groups = geometry["groups"]
    P = geometry["out"][0] * geometry["out"][1]
    kk = geometry["kernel"][0] * geometry["kernel"][1]
    C = x.shape[1]
    if x.dtype != F64 and P >= 256 and kk > 1 and C // groups >= 32:
        x = F.pad(x, (left, right, top, bottom))  # (b, C, Hp, Wp)
        shape = (b * R * O, C // groups, *geometry["kernel"])
        inputs = x.unsqueeze(1).expand(b, R, *x.shape[1:]).reshape(1, b * R * C, *x.shape[2:])
        _, w, _ = torch.ops.aten.convolution_backward(
            g.reshape(1, b * R * O, *geometry["out"]), inputs, x.new_empty(shape), None,
            list(geometry["stride"]), [0, 0], list(geometry["dilation"]), False, [0, 0],
            b * R * groups, [False, True, False],
        )  # fmt: skip
        return w.reshape(b, R, -1), bias_grad
    x = F.pad(x, (left, right, top, bottom))
    patches = F.unfold(x, geometry["kernel"], dilation=geometry["dilation"],
                       stride=geometry["stride"])  # (b, C·kh·kw, P)  # fmt: skip
    g = g.reshape(b, R, groups, O // groups, P)  # (b, R, groups, O/groups, P)
    patches = patches.reshape(b, 1, groups, -1, P)  # (b, 1, groups, Ckk/g, P)
    w = torch.matmul(g, patches.transpose(-1, -2))  # (b, R, groups, O/groups, Ckk/g)
    return w.reshape(b, R, -1), bias_grad


def batch_norm_per_sample(module, x, g, attr: str) -> torch.Tensor:
    """BatchNorm in eval mode: ∂f/∂γ_c = Σ_s g_cs x̂_cs, ∂f/∂β_c = Σ_s g_cs, (b, R, C)."""
    b, R, C = g.shape[:3]
    g = g.reshape(b, R, C, -1)  # (b, R, C, S)
    if attr == "bias":
        return g.sum(-1)
    scale = torch.rsqrt(module.running_var.to(F64) + module.eps)
    shift = (-module.running_mean.to(F64) * scale).to(x.dtype)[:, None]
    normed = torch.addcmul(shift, x.reshape(b, C, -1), scale.to(x.dtype)[:, None])  # x̂ (b, C, S)
    return torch.einsum("brcs,bcs->brc", g, normed)


def prelu_per_sample(module, x, g) -> torch.Tensor:
    """PReLU, y = max(0, x) + w_c min(0, x): ∂f/∂w_c = Σ_s g_cs min(0, x_cs), (b, R, C).

    C is the number of weights: one per channel (dim 1), or 1 shared by every entry. (torch.func
    cannot take this route: its vmap of PReLU's backward mixes the probe points.)
    """
    b, R = g.shape[:2]
    C = module.weight.numel()
    g = g.reshape(b, R, C, -1)  # (b, R, C, S)
    negative = x.clamp(max=0).reshape(b, C, -1)  # (b, C, S)
    return torch.einsum("brcs,bcs->brc", g, negative)


def embedding_per_sample(module, tokens, g):
    """Embedding: scatter of g onto the rows of its tokens -> (b, R, V·d)."""
    b, R = g.shape[:2]
    d = g.shape[-1]
    g = g.reshape(b, R, -1, d).to(F64)  # (b, R, S, d)
    tokens = tokens.reshape(b, 1, -1, 1).expand(b, R, -1, d)
    if module.padding_idx is not None:
        g = g.masked_fill(tokens == module.padding_idx, 0.0)
    out = g.new_zeros(b, R, module.num_embeddings, d)
    return out.scatter_add_(2, tokens, g).reshape(b, R, -1)


# ---------------------------------------------------------------- Gram blocks
def _gram(a: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """a bᵀ; with b None, the symmetric a aᵀ from three of its four blocks."""
    if b is not None:
        return a @ b.T
    n = a.shape[0]
    if n < 256:
        return a @ a.T
    h = n // 2
    out = a.new_empty(n, n)
    out[:h, :h] = a[:h] @ a[:h].T
    out[:h, h:] = a[:h] @ a[h:].T
    out[h:, :h] = out[:h, h:].T
    out[h:, h:] = a[h:] @ a[h:].T
    return out


def position_gram(fa, fb=None):
    """Σ_c fa[a, s, c] fb[b, t, c]: (Ba, S, C), (Bb, T, C) -> (Ba, S, Bb, T); fb None: fa."""
    Ba, S, C = fa.shape
    Bb, T = (Ba, S) if fb is None else fb.shape[:2]
    right = None if fb is None else fb.reshape(Bb * T, C)
    return _gram(fa.reshape(Ba * S, C), right).view(Ba, S, Bb, T)


def combine(A, ga, gb, full):
    """Σ_{s,t} A[a,s,b,t] (ga[a,r,s]·gb[b,q,t]): ga (Ba, R, S, O) -> (Ba, Bb) or (Ba, R, Bb, R).

    Without ``full`` the output rows are summed over r = q (the "sum" and "trace" kernels).
    ``gb`` None: the same points as ``ga``.
    """
    Ba, R, S, O = ga.shape
    if not full:
        left = ga.permute(0, 2, 1, 3).reshape(Ba, S, R * O)  # (Ba, S, R·O)
        right = None if gb is None else gb.permute(0, 2, 1, 3).reshape(gb.shape[0], -1, R * O)
        return (A * position_gram(left, right)).sum((1, 3))  # (Ba, Bb)
    Bb, T = (Ba, S) if gb is None else gb.shape[:3:2]
    right = None if gb is None else gb.reshape(Bb * R * T, O)
    Gg = _gram(ga.reshape(Ba * R * S, O), right).view(Ba, R, S, Bb, R, T)
    return torch.einsum("asbt,arsbqt->arbq", A, Gg)


def linear_gram(xa, ga, xb, gb, full):
    """Weight block of a Linear: x (B, *S, in), g (B, R, *S, out); xb, gb None: same points."""
    fa = xa.reshape(xa.shape[0], -1, xa.shape[-1]).to(F64)  # (Ba, S, in)
    fb = None if xb is None else xb.reshape(xb.shape[0], -1, xb.shape[-1]).to(F64)
    A = position_gram(fa, fb)  # (Ba, S, Bb, S)
    return combine(A, _positions(ga), None if gb is None else _positions(gb), full)


def embedding_gram(module, ta, ga, tb, gb, full):
    """Weight block of an Embedding: A[s, t] = 1[token_s = token_t] (padding_idx excluded)."""
    ta = ta.reshape(ta.shape[0], -1)  # (B, S)
    tb = ta if tb is None else tb.reshape(tb.shape[0], -1)
    A = (ta[:, :, None, None] == tb[None, None]).to(F64)  # (Ba, S, Bb, T)
    if module.padding_idx is not None:
        A = A * (ta != module.padding_idx)[:, :, None, None].to(F64)
    return combine(A, _positions(ga), None if gb is None else _positions(gb), full)


def _positions(g):
    """(B, R, *S, O) -> (B, R, S, O) in float64."""
    return g.reshape(g.shape[0], g.shape[1], -1, g.shape[-1]).to(F64)


def _patch_gram(xa, xb, geometry):
    """A[a, p, b, q] = patch_p(x_a)·patch_q(x_b) from unfolded patches: (Ba, P, Bb, P)."""
    (top, bottom), (left, right) = geometry["pads"]

    def patches(x):
        x = F.pad(as_2d(x, geometry), (left, right, top, bottom)).to(F64)
        cols = F.unfold(x, geometry["kernel"], dilation=geometry["dilation"],
                        stride=geometry["stride"])  # (B, C·kk, P)  # fmt: skip
        return cols.transpose(1, 2)  # (B, P, C·kk)

    return position_gram(patches(xa), None if xb is None else patches(xb))


def _shifted_gram(xa, xb, geometry):
    """The same A from the input Gram, summing its k_h·k_w shifted, strided diagonals."""
    xa = as_2d(xa, geometry).to(F64)  # (B, C, H, W)
    Ba, C, H, W = xa.shape
    fa = xa.permute(0, 2, 3, 1).reshape(Ba, H * W, C)
    fb = None
    if xb is not None:
        xb = as_2d(xb, geometry).to(F64)
        fb = xb.permute(0, 2, 3, 1).reshape(xb.shape[0], H * W, C)
    Bb = Ba if xb is None else xb.shape[0]
    inner = position_gram(fa, fb).view(Ba, H, W, Bb, H, W)
    (top, _), (left, _) = geometry["pads"]
    Hp, Wp = geometry["Hp"], geometry["Wp"]
    padded = inner.new_zeros(Ba, Hp, Wp, Bb, Hp, Wp)
    padded[:, top : top + H, left : left + W, :, top : top + H, left : left + W] = inner
    del inner
    (kh, kw), (sh, sw), (dh, dw) = geometry["kernel"], geometry["stride"], geometry["dilation"]
    Ho, Wo = geometry["out"]
    A = None
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (Ho - 1) + 1, sh)
        for j in range(kw):
            cols = slice(j * dw, j * dw + sw * (Wo - 1) + 1, sw)
            shifted = padded[:, rows, cols, :, rows, cols]  # (Ba, Ho, Wo, Bb, Ho, Wo)
            A = shifted.clone() if A is None else A.add_(shifted)
    return A.reshape(Ba, Ho * Wo, Bb, Ho * Wo)


def conv_gram(xa, ga, xb, gb, geometry, full):
    """Weight block of a convolution (groups = 1): Σ_{p,q} (patch_p·patch_q)(g_p·g_q).

    The patch Gram comes from the input Gram's shifted diagonals when that is cheaper (stride
    1: k_h·k_w times fewer multiply-adds), else from unfolded patches (strided convolutions).
    """
    Ba, R = xa.shape[0], ga.shape[1]
    Ho, Wo = geometry["out"]
    if _shift_cost(geometry) <= _patch_cost(geometry):
        A = _shifted_gram(xa, xb, geometry)
    else:
        A = _patch_gram(xa, xb, geometry)
    ga = ga.reshape(Ba, R, -1, Ho * Wo).transpose(-1, -2).to(F64)  # (Ba, R, P, O)
    if gb is not None:
        gb = gb.reshape(gb.shape[0], R, -1, Ho * Wo).transpose(-1, -2).to(F64)
    return combine(A, ga, gb, full)


# ---------------------------------------------------------------- cost models (multiply-adds)
def linear_costs(x_shape, g_shape, Ba, Bb, full, same):
    """(gram, per-sample) multiply-adds of a Linear's weight block."""
    S = max(1, int(torch.Size(x_shape[1:-1]).numel()))
    n_in, n_out, R = x_shape[-1], g_shape[-1], g_shape[1]
    pairs = Ba * Bb
    rr = R * R if full else R
    gram = pairs * S * S * (n_in + rr * n_out + rr)
    build = (Ba if same else Ba + Bb) * R * S * n_out * n_in
    return gram, build + pairs * rr * n_out * n_in


def _shift_cost(geometry) -> float:
    """Per pair of points, per input channel: the input Gram, its padding and its shifts."""
    kk = geometry["kernel"][0] * geometry["kernel"][1]
    P = geometry["out"][0] * geometry["out"][1]
    HW, HpWp = geometry["H"] * geometry["W"], geometry["Hp"] * geometry["Wp"]
    return HW * HW + (kk * P * P + HpWp * HpWp) / max(geometry["C"], 1)


def _patch_cost(geometry) -> float:
    kk = geometry["kernel"][0] * geometry["kernel"][1]
    P = geometry["out"][0] * geometry["out"][1]
    return P * P * kk


def conv_costs(geometry, C, O, R, Ba, Bb, full, same, *, low_precision=False):
    """(gram, per-sample) multiply-adds of a convolution's weight block.

    Per-sample gradients are built in the model's dtype: with ``low_precision`` (float32)
    that work counts half, as it runs about twice as fast as float64 on a CPU.
    """
    kk = geometry["kernel"][0] * geometry["kernel"][1]
    P = geometry["out"][0] * geometry["out"][1]
    pairs = Ba * Bb
    rr = R * R if full else R
    if geometry["groups"] != 1:
        gram = float("inf")
    else:
        patch = min(_shift_cost(geometry), _patch_cost(geometry)) * C
        gram = pairs * (patch + P * P * rr * O + P * P * rr)
    build = (Ba if same else Ba + Bb) * R * O * P * C * kk / geometry["groups"]
    build *= 0.5 if low_precision else 1.0
    return gram, build + pairs * rr * O * C * kk / geometry["groups"]


def gram_pair_bytes(kind, geometry, S, R, O, full):
    """Bytes of float64 temporaries per pair of probe points in a Gram block."""
    rr = R * R if full else 1
    if kind == "conv":
        P = geometry["out"][0] * geometry["out"][1]
        return 8 * (2 * (geometry["Hp"] * geometry["Wp"]) ** 2 + P * P * (rr + 2))
    return 8 * S * S * (rr + 3)
