"""The one-layer post-LayerNorm transformer the paper groks with, in one file.

A one-layer version of the decoder of danielmamay/grokking (grokking/model.py, as the code stood
from 2022 to 2024; docs/section5-structure.md "The paper's recipes", docs/theory.md §6.4):

    x_i = E[t_i] + P[i]                       token and learned position embeddings, N(0, 1)
    a   = LN_1(x + Attn(x))                   causal self-attention, n_heads heads, biases
    b   = LN_2(a + W_2 GELU(W_1 a))           MLP of d_mlp = 4·d_model units, biases
    logits = τ · W_head LN_f(b) (+ bias)      read at the last position, over the p + 2 tokens

Input: the tokens ``x op y =`` (N, 4) of ``richlazy.data.modular_arithmetic(...,
sequence="a op b =")``: numbers 0…p−1, ``=`` = p, the operation's token p + 1; the vocabulary
and the head's outputs are the p + 2 tokens, as in the reference (the labels are numbers < p).
Initialization as PyTorch's defaults for the reference's modules: embeddings N(0, 1); the
query/key/value weights uniform ±√(6/(4·d_model)) (``nn.MultiheadAttention``'s Xavier draw of
its stacked (3d, d) in-projection), their biases and the out-projection's bias zero; every other
``nn.Linear`` at its own default; LayerNorms at weight 1, bias 0. No dropout.

Only the last position is read out, so only its query, LayerNorms, MLP and head are computed:
with one layer nothing else reaches them, and the causal mask changes nothing there (the last
position attends to every position). The output equals the full model's last-position logits.

The knobs (docs/theory.md §6.1; the paper's Appendix D.3): α divides the token and position
embeddings, ``richlazy.nn.unbalance(model, α, first=GrokkingTransformer.EMBEDDINGS,
rescale_last=False)`` (LayerNorm follows them, so the last layer is not multiplied); τ
multiplies the logits (``tau``, a buffer, so a vmapped batch may hold several τ). Kumar et al.'s
τ also divides the learning rate by τ²: that belongs to the optimizer, not to the model.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

__all__ = ["GrokkingTransformer"]


class GrokkingTransformer(nn.Module):
    """logits = τ · head(LN_f(LN_2(a + MLP(a)))), a = LN_1(x_last + Attn(x)) at the last position.

    Args:
        p: the modulus: numbers 0…p−1, vocabulary (and outputs) p + 2.
        d_model: width of the residual stream, divisible by ``n_heads`` (the paper: 128).
        n_heads: attention heads (the paper: 4).
        d_mlp: hidden units of the MLP; default 4·d_model.
        n_ctx: sequence length (4 for ``x op y =``).
        tau: τ, the factor of the logits (> 0; the paper: 0.5 … 1.5).

    Attributes:
        EMBEDDINGS: the module names α divides, ``("embed", "pos")``.
        tau: the buffer holding τ (0-d, the parameters' dtype).
    """

    EMBEDDINGS = ("embed", "pos")

    def __init__(
        self, p: int = 97, *, d_model: int = 128, n_heads: int = 4, d_mlp: int | None = None,
        n_ctx: int = 4, tau: float = 1.0,
    ) -> None:  # fmt: skip
        super().__init__()
        d_mlp = 4 * d_model if d_mlp is None else d_mlp
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
        if isinstance(tau, bool) or not isinstance(tau, int | float) or not 0 < tau < math.inf:
            raise ValueError(f"tau must be a finite number > 0, got {tau!r}")
        self.p, self.n_heads, self.d_head = p, n_heads, d_model // n_heads
        self.embed = nn.Embedding(p + 2, d_model)  # E: (p + 2, d)
        self.pos = nn.Embedding(n_ctx, d_model)  # P: (n_ctx, d)
        self.query = nn.Linear(d_model, d_model)  # heads stacked: (H·d_head, d)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)  # (d, H·d_head)
        self.attn_norm = nn.LayerNorm(d_model)
        self.mlp_in = nn.Linear(d_model, d_mlp)
        self.mlp_out = nn.Linear(d_mlp, d_model)
        self.mlp_norm = nn.LayerNorm(d_model)
        self.final_norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, p + 2)  # (p + 2, d)
        self.register_buffer("tau", torch.tensor(float(tau)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's defaults for the reference's modules (module docstring)."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        d_model = self.pos.weight.shape[1]
        bound = math.sqrt(6.0 / (4 * d_model))  # Xavier over the stacked (3d, d) in-projection
        with torch.no_grad():
            for layer in (self.query, self.key, self.value):
                layer.weight.uniform_(-bound, bound)
                layer.bias.zero_()
            self.out.bias.zero_()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _check_tokens(tokens, self.pos.weight.shape[0])
        n, n_ctx = tokens.shape[0], tokens.shape[1]  # (N, T) integer tokens in [0, p + 2)
        x = self.embed(tokens) + self.pos.weight  # (N, T, d)
        heads = (n, n_ctx, self.n_heads, self.d_head)
        k = self.key(x).view(heads)  # (N, T, H, d_head)
        v = self.value(x).view(heads)  # (N, T, H, d_head)
        last = x[:, -1]  # (N, d): the only position read out
        q = self.query(last).view(n, 1, self.n_heads, self.d_head)  # (N, 1, H, d_head)
        # products and sums, not batched matmuls: with T = 4 those are (1 × d_head)(d_head × 4)
        # products, measured 13% slower per training step (docs/performance.md)
        scores = (q * k).sum(-1) / math.sqrt(self.d_head)  # (N, T, H)
        mixed = (scores.softmax(dim=1).unsqueeze(-1) * v).sum(1).reshape(n, -1)  # (N, H·d_head)
        a = self.attn_norm(last + self.out(mixed))  # (N, d)
        b = self.mlp_norm(a + self.mlp_out(functional.gelu(self.mlp_in(a))))  # (N, d)
        return self.head(self.final_norm(b)) * self.tau  # (N, p + 2)


@torch.fx.wrap  # a leaf for torch.fx: conserved_quantities traces the layers, not this check
def _check_tokens(tokens: torch.Tensor, positions: int) -> None:
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be (N, {positions}), got shape {tuple(tokens.shape)}")
    if tokens.shape[1] != positions:
        raise ValueError(f"tokens must have {positions} positions, got {tokens.shape[1]}")
