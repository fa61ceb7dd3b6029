"""The Section 5 models: shapes, α's layers on each, a tiny transformer run that memorises, and
the paper's two recipe models: the mean-field MLP's scaling conventions and α knob, the grokking
transformer against PyTorch's own modules and its α and τ knobs (docs/section5-structure.md)."""

import copy
import math

import pytest
import torch
from torch import nn
from torch.nn import functional

from richlazy.data import modular_arithmetic, random_hierarchy
from richlazy.nn import SGD, AdamW, CosineAnnealing, LinearWarmUp, fit, unbalance
from richlazy.nn.models import (
    GrokkingTransformer,
    HierarchicalCNN,
    MeanFieldMLP,
    ModularTransformer,
)

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
    geometry = unbalance(model, 4.0)
    assert (geometry.first, geometry.last) == ("layers.0", "readout")
    # Tolerance: α = 4 is a power of two, so W_first/4 and 4·W_readout are exact in float32 and
    # the scaling commutes with every rounding of the bias-free ReLU network: the same float32
    # outputs in any kernel's summation order (the same kernels run before and after).
    torch.testing.assert_close(model(x), before, rtol=1e-6, atol=0.0)
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
    # The last position against the whole causal sequence: two code paths, compared in float64
    # (in float32 their kernels' rounding would differ with the CPU's SIMD width).
    wide = copy.deepcopy(model).double()
    assert torch.allclose(wide(x), _every_position(wide, x)[:, -1], rtol=0, atol=1e-12)
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


# ---------------------------------------------------------------------------------------------
# The RHM's mean-field MLP (pcsl-epfl/hierarchy-learning's FCN)


def _rhm_inputs(n: int = 50) -> torch.Tensor:
    rhm = random_hierarchy(8, 8, 4, 3, 2, seed=0)  # the paper's instance
    return torch.as_tensor(rhm.sample(n, 0, seed=0).x).double()  # (n, 8, 8)


def test_the_mean_field_mlp_scales_its_layers_in_the_forward_pass():
    torch.manual_seed(0)
    model = MeanFieldMLP(64, 64, 3, 8).double()
    x = _rhm_inputs()
    w1, w2, w3 = (layer.weight for layer in model.hidden)
    out = model.readout.weight
    assert [tuple(w.shape) for w in (w1, w2, w3, out)] == [(64, 64)] * 3 + [(8, 64)]
    assert all(layer.bias is None for layer in model.hidden) and model.readout.bias is None
    # by hand: h1 = σ(W1 x/√64), h_l = σ(W_l h/√64), f = W_out h3 / 64
    h = torch.relu(x.flatten(1) @ w1.T / 8)
    h = torch.relu(h @ w2.T / 8)
    h = torch.relu(h @ w3.T / 8)
    torch.testing.assert_close(model(x), h @ out.T / 64, rtol=1e-13, atol=1e-15)
    # stored weights N(0, 1): over 12,800 draws the sample std is within 3% of 1 (5σ ≈ 3.1%)
    stored = torch.cat([w.detach().flatten() for w in (w1, w2, w3, out)])
    assert abs(float(stored.std()) - 1.0) < 0.031 and abs(float(stored.mean())) < 0.05
    with pytest.raises(ValueError, match=r"inputs must flatten to 64 features, got 32"):
        model(x[..., :4])
    with pytest.raises(ValueError, match=r"width must be a positive integer, got 0"):
        MeanFieldMLP(64, 0)


@pytest.mark.parametrize("alpha", [0.03, 10.0])
def test_alpha_keeps_the_mean_field_mlps_function_and_moves_its_gradients(alpha):
    """first ÷ α, readout × α on the stored N(0, 1) weights = the paper's knob (the forward
    pass's constants scale with them); f unchanged (bias-free, ReLU), and by the rescaling
    symmetry the first layer's gradient is ×α and the readout's ÷α (docs/theory.md §6.1)."""
    torch.manual_seed(1)
    model = MeanFieldMLP(64, 64, 3, 8).double()
    x, y = _rhm_inputs(), torch.arange(50) % 8
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    f0 = model(x).detach()
    grads0 = torch.autograd.grad(functional.cross_entropy(model(x), y), model.parameters())
    geometry = unbalance(model, alpha)
    assert (geometry.first, geometry.last) == ("hidden.0", "readout")
    factors = {"hidden.0.weight": 1 / alpha, "readout.weight": alpha}
    for name, p in model.named_parameters():
        torch.testing.assert_close(p, before[name] * factors.get(name, 1.0), rtol=1e-15, atol=0)
    torch.testing.assert_close(model(x), f0, rtol=1e-12, atol=1e-13)
    grads = torch.autograd.grad(functional.cross_entropy(model(x), y), model.parameters())
    for (name, _), g0, g in zip(model.named_parameters(), grads0, grads, strict=True):
        expected = g0 * {"hidden.0.weight": alpha, "readout.weight": 1 / alpha}.get(name, 1.0)
        torch.testing.assert_close(g, expected, rtol=1e-10, atol=1e-14)


def test_the_mean_field_mlp_trains_as_one_vmapped_batch():
    """fit's vectorized path (stacked parameters, vmap) equals run by run, in float64, on the
    paper's recipe (SGD, momentum 0.9, rate 0.1·width, batch 128, cosine annealing per epoch
    over 80% of the epochs) at α = 0.1 and 10."""
    x, y = _rhm_inputs(256).float(), torch.arange(256) % 8
    runs = {}
    for vectorize in (True, False):
        models = []
        for seed, alpha in ((0, 0.1), (1, 10.0)):
            torch.manual_seed(seed)
            models.append(MeanFieldMLP(64, 64, 3, 8).double())
            unbalance(models[-1], alpha)
        fit(models, x.double(), y, optimizer=SGD(6.4, momentum=0.9), epochs=3, batch_size=128,
            schedule=CosineAnnealing(0.8 * 3, unit="epoch"), seed=[0, 1],
            vectorize=vectorize)  # fmt: skip
        runs[vectorize] = [torch.cat([p.flatten() for p in m.parameters()]) for m in models]
    for a, b in zip(runs[True], runs[False], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert not torch.equal(runs[True][0][:10], runs[True][1][:10])


# ---------------------------------------------------------------------------------------------
# The grokking transformer (danielmamay/grokking, one layer)


def _reference(model: GrokkingTransformer) -> nn.Module:
    """The same weights in PyTorch's own modules, every position computed under the causal
    mask, as the reference implementation runs them (sequence first)."""
    d, p = model.pos.weight.shape[1], model.p
    attention = nn.MultiheadAttention(d, model.n_heads).double()
    with torch.no_grad():
        attention.in_proj_weight.copy_(
            torch.cat([model.query.weight, model.key.weight, model.value.weight])
        )
        attention.in_proj_bias.copy_(
            torch.cat([model.query.bias, model.key.bias, model.value.bias])
        )
        attention.out_proj.weight.copy_(model.out.weight)
        attention.out_proj.bias.copy_(model.out.bias)

    def forward(tokens):
        x = (model.embed(tokens) + model.pos.weight).transpose(0, 1)  # (T, N, d)
        t = x.shape[0]
        mask = torch.full((t, t), -math.inf, dtype=x.dtype).triu(1)
        a = model.attn_norm(x + attention(x, x, x, attn_mask=mask)[0])
        b = model.mlp_norm(a + model.mlp_out(functional.gelu(model.mlp_in(a))))
        return model.head(model.final_norm(b)) * model.tau  # (T, N, p + 2)

    assert p + 2 == model.head.out_features
    return forward


def test_the_grokking_transformer_is_the_reference_at_the_last_position():
    torch.manual_seed(0)
    split = modular_arithmetic(13, fraction=0.5, seed=0, operation="divide", sequence="a op b =")
    tokens = torch.as_tensor(split.x)  # (78, 4)
    model = GrokkingTransformer(13, d_model=32, n_heads=4, tau=0.75).double()
    logits = model(tokens)
    assert logits.shape == (78, 15)
    torch.testing.assert_close(logits, _reference(model)(tokens)[-1], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"tokens must have 4 positions, got 3"):
        model(tokens[:, :3])


def test_the_grokking_transformer_starts_at_pytorchs_defaults():
    torch.manual_seed(0)
    model = GrokkingTransformer().requires_grad_(False)  # p = 97, d = 128, 4 heads, MLP 512
    assert model.mlp_in.weight.shape == (512, 128) and model.head.weight.shape == (99, 128)
    embeddings = torch.cat([model.embed.weight.flatten(), model.pos.weight.flatten()]).detach()
    assert abs(float(embeddings.std()) - 1.0) < 0.05  # N(0, 1): 13,184 draws, 5σ ≈ 3%
    bound = math.sqrt(6 / (4 * 128))  # Xavier over the stacked (3d, d) in-projection
    for layer in (model.query, model.key, model.value):
        assert float(layer.weight.abs().max()) <= bound and float(layer.weight.std()) > 0.9 * (
            bound / math.sqrt(3)
        )
        assert not layer.bias.any()
    assert not model.out.bias.any() and float(model.out.weight.abs().max()) <= 1 / math.sqrt(128)
    for norm in (model.attn_norm, model.mlp_norm, model.final_norm):
        assert (norm.weight == 1).all() and not norm.bias.any()
    assert float(model.tau) == 1.0 and "tau" in model.state_dict()


def test_alpha_divides_exactly_the_embeddings_and_tau_scales_the_logits():
    torch.manual_seed(0)
    model = GrokkingTransformer(11, d_model=16, n_heads=2).double()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    geometry = unbalance(model, 4.0, first=GrokkingTransformer.EMBEDDINGS, rescale_last=False)
    assert (geometry.first, geometry.last) == ("embed, pos", None)
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed == {"embed.weight", "pos.weight"}
    for name in changed:
        torch.testing.assert_close(model.get_parameter(name), before[name] / 4, rtol=1e-15, atol=0)
    # τ multiplies the logits: the same weights at τ = 1.5 give 1.5 × the logits at τ = 1
    tokens = torch.as_tensor(modular_arithmetic(11, sequence="a op b =", seed=0).x)
    scaled = GrokkingTransformer(11, d_model=16, n_heads=2, tau=1.5).double()
    scaled.load_state_dict({**model.state_dict(), "tau": scaled.tau})
    torch.testing.assert_close(scaled(tokens), 1.5 * model(tokens), rtol=1e-14, atol=1e-14)
    for bad in (0.0, -1.0, math.inf, True):
        with pytest.raises(ValueError, match=r"tau must be a finite number > 0"):
            GrokkingTransformer(11, tau=bad)
    with pytest.raises(ValueError, match=r"d_model \(16\) must be divisible by n_heads \(3\)"):
        GrokkingTransformer(11, d_model=16, n_heads=3)


def test_the_grokking_transformer_trains_as_one_vmapped_batch_over_tau():
    """τ is a buffer, so one vmapped batch holds several τ: fit's vectorized path equals run by
    run in float64 (AdamW, the paper's betas, weight decay and warm-up)."""
    split = modular_arithmetic(11, fraction=0.5, seed=0, sequence="a op b =")
    x, y = torch.as_tensor(split.x), torch.as_tensor(split.y)
    optimizer = AdamW(1e-3, betas=(0.9, 0.98), weight_decay=1.0)
    runs = {}
    for vectorize in (True, False):
        models = []
        for tau in (0.5, 1.5):
            torch.manual_seed(0)
            models.append(GrokkingTransformer(11, d_model=16, n_heads=2, tau=tau).double())
        fit(models, x, y, optimizer=optimizer, schedule=LinearWarmUp(10), steps=5,
            batch_size=32, vectorize=vectorize)  # fmt: skip
        runs[vectorize] = [torch.cat([p.flatten() for p in m.parameters()]) for m in models]
    for a, b in zip(runs[True], runs[False], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert not torch.equal(runs[True][0], runs[True][1])  # the two τ trained apart
