"""The one-layer transformer of Nanda et al. (2023) for modular arithmetic, in one file.

Input: the tokens ``a b =`` (``=`` is token ``p``), (N, 3) integers. The residual stream of a
position is its token's embedding plus the position's embedding; one attention layer of
``n_heads`` heads and one ReLU MLP add to it; the unembedding reads the logits over the p
answers at the last position. No LayerNorm, no dropout, bias-free attention and unembedding,
biases (zero at init) in the MLP, as in Nanda et al.'s model. Initialization as theirs: every
weight N(0, 1/d_model), the unembedding N(0, 1/(p + 1)).

The logits are read at the last position only, so only that position's query, MLP and
unembedding are computed: in a one-layer model nothing else reaches them (and a causal mask
changes nothing there, since the last position sees every position). The output equals the
full model's last-position logits.

Parameter order, for ``richlazy.nn.unbalance`` (docs/theory.md §6.1, docs/section5-structure.md):
``embed`` (the token embedding, the first layer α divides) and ``pos`` (the position embedding;
``unbalance(model, α, first=("embed", "pos"))`` divides both), then the attention
``query``/``key``/``value``/``out``, the MLP ``mlp_in``/``mlp_out`` and ``unembed`` (the last
layer, multiplied by α with ``rescale_last=True``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["ModularTransformer"]


class ModularTransformer(nn.Module):
    """logits(a, b) = W_U · (r + MLP(r)), r = x_= + Attn(x_a, x_b, x_=), x_i = W_E[t_i] + W_pos[i].

    Args:
        p: the modulus: p answers and p + 1 tokens (the numbers and ``=``).
        d_model: width of the residual stream (divisible by ``n_heads``).
        n_heads: attention heads, each of width d_model / n_heads.
        d_mlp: hidden units of the MLP.
        n_ctx: sequence length (3 for ``a b =``).
        logits_dtype: the dtype the logits are returned in (``torch.float64``: Nanda et al.
            take the log-softmax in float64, which keeps the gradient of a training loss near
            1e-7 from rounding to zero); None returns them in the parameters' dtype.
    """

    def __init__(
        self, p: int = 113, *, d_model: int = 128, n_heads: int = 4, d_mlp: int = 512,
        n_ctx: int = 3, logits_dtype: torch.dtype | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        for name, value in (
            ("p", p), ("d_model", d_model), ("n_heads", n_heads), ("d_mlp", d_mlp),
            ("n_ctx", n_ctx),
        ):  # fmt: skip
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if p < 2:
            raise ValueError(f"p must be an integer >= 2, got {p}")
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        if logits_dtype is not None and not isinstance(logits_dtype, torch.dtype):
            raise TypeError(f"logits_dtype must be a torch.dtype or None, got {logits_dtype!r}")
        self.p, self.n_heads, self.d_head = p, n_heads, d_model // n_heads
        self.logits_dtype = logits_dtype
        self.embed = nn.Embedding(p + 1, d_model)  # W_E: (p + 1, d_model)
        self.pos = nn.Embedding(n_ctx, d_model)  # W_pos: (n_ctx, d_model)
        self.query = nn.Linear(d_model, d_model, bias=False)  # heads stacked: (H·d_head, d)
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.value = nn.Linear(d_model, d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)  # W_O: (d, H·d_head)
        self.mlp_in = nn.Linear(d_model, d_mlp)
        self.mlp_out = nn.Linear(d_mlp, d_model)
        self.unembed = nn.Linear(d_model, p, bias=False)  # W_U: (p, d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Nanda et al.'s initialization: weights N(0, 1/d_model), W_U N(0, 1/(p+1)), biases 0."""
        d_model = self.pos.weight.shape[1]
        with torch.no_grad():
            for weight in (self.embed.weight, self.pos.weight, self.query.weight, self.key.weight,
                           self.value.weight, self.out.weight, self.mlp_in.weight,
                           self.mlp_out.weight):  # fmt: skip
                weight.normal_(0.0, 1.0 / math.sqrt(d_model))
            self.unembed.weight.normal_(0.0, 1.0 / math.sqrt(self.p + 1))
            self.mlp_in.bias.zero_()
            self.mlp_out.bias.zero_()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n, n_ctx = tokens.shape  # (N, T) integer tokens in [0, p]
        if n_ctx != self.pos.weight.shape[0]:
            raise ValueError(f"tokens must have {self.pos.weight.shape[0]} positions, got {n_ctx}")
        x = self.embed(tokens) + self.pos.weight  # (N, T, d)
        heads = (n, n_ctx, self.n_heads, self.d_head)
        k = self.key(x).view(heads).transpose(1, 2)  # (N, H, T, d_head)
        v = self.value(x).view(heads).transpose(1, 2)  # (N, H, T, d_head)
        last = x[:, -1]  # (N, d): the only position read out
        q = self.query(last).view(n, self.n_heads, 1, self.d_head)  # (N, H, 1, d_head)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)  # (N, H, 1, T)
        mixed = (scores.softmax(dim=-1) @ v).reshape(n, -1)  # (N, H·d_head)
        resid = last + self.out(mixed)  # (N, d)
        resid = resid + self.mlp_out(torch.relu(self.mlp_in(resid)))  # (N, d)
        logits = self.unembed(resid)  # (N, p)
        return logits if self.logits_dtype is None else logits.to(self.logits_dtype)
