"""The Section 5 models: shapes, α's layers on each, and a tiny transformer run that memorises
(docs/section5-structure.md)."""

import pytest
import torch
from torch.nn import functional

from richlazy.data import modular_arithmetic, random_hierarchy
from richlazy.nn import unbalance
from richlazy.nn.models import HierarchicalCNN, ModularTransformer

pytestmark = pytest.mark.usefixtures("single_thread")


def test_the_hierarchical_cnn_keeps_its_function_under_alpha():
    torch.manual_seed(0)
    rhm = random_hierarchy(4, 3, 2, 3, 2, seed=0)
    x = torch.as_tensor(rhm.sample(20, 0, seed=0).x)  # (20, 4, 8)
    model = HierarchicalCNN(4, 16, 3, 2, 3)
    assert [m.kernel_size for m in model.layers[::2]] == [(2,), (2,), (2,)]
    assert all(m.bias is None for m in model.layers[::2]) and model.readout.bias is None
    before = model(x)
    assert before.shape == (20, 3)
    geometry = unbalance(model, 3.0)
    assert (geometry.first, geometry.last) == ("layers.0", "readout")
    torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"length s\^L = 8"):
        model(x[..., :4])


def test_alpha_acts_on_the_transformers_embedding():
    torch.manual_seed(0)
    model = ModularTransformer(7, d_model=8, n_heads=2, d_mlp=16)
    embed, pos, unembed = (t.detach().clone() for t in (model.embed.weight, model.pos.weight,
                                                        model.unembed.weight))  # fmt: skip
    geometry = unbalance(model, 4.0, rescale_last=False)
    assert (geometry.first, geometry.last) == ("embed", None)
    torch.testing.assert_close(model.embed.weight, embed / 4)
    torch.testing.assert_close(model.pos.weight, pos)  # positions only where asked
    torch.testing.assert_close(model.unembed.weight, unembed)
    both = ModularTransformer(7, d_model=8, n_heads=2, d_mlp=16)
    geometry = unbalance(both, 4.0, first=("embed", "pos"))
    assert (geometry.first, geometry.last) == ("embed, pos", "unembed")
    assert geometry.scales["pos.weight"] == 0.25 and geometry.scales["unembed.weight"] == 4.0
    with pytest.raises(ValueError, match=r"d_model \(8\) must be divisible by n_heads \(3\)"):
        ModularTransformer(7, d_model=8, n_heads=3)
    with pytest.raises(ValueError, match=r"p must be an integer >= 2"):
        ModularTransformer(1)


def test_the_transformer_memorises_a_tiny_table():
    torch.manual_seed(0)
    split = modular_arithmetic(11, fraction=0.5, seed=0)
    x, y = torch.as_tensor(split.x), torch.as_tensor(split.y)
    model = ModularTransformer(11, d_model=32, n_heads=4, d_mlp=64)
    logits = model(x)
    assert logits.shape == (60, 11)
    assert torch.allclose(logits, _every_position(model, x)[:, -1], atol=1e-5)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    for _ in range(150):
        optimizer.zero_grad()
        functional.cross_entropy(model(x).double(), y).backward()
        optimizer.step()
    assert (model(x).argmax(-1) == y).float().mean() == 1.0


def _every_position(model, tokens):
    """The whole sequence through the layer, causal mask included: (N, T, p) logits."""
    n, t = tokens.shape
    x = model.embed(tokens) + model.pos.weight  # (N, T, d)
    split = lambda z: z.view(n, t, model.n_heads, model.d_head).transpose(1, 2)  # noqa: E731
    q, k, v = split(model.query(x)), split(model.key(x)), split(model.value(x))  # (N, H, T, dh)
    scores = q @ k.transpose(-1, -2) / model.d_head**0.5  # (N, H, T, T)
    scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    mixed = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, t, -1)  # (N, T, d)
    resid = x + model.out(mixed)
    resid = resid + model.mlp_out(torch.relu(model.mlp_in(resid)))
    return model.unembed(resid)
