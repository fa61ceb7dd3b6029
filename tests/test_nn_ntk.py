"""The layer-wise empirical NTK against a brute-force Jacobian contraction (docs/theory.md §6.2).

The oracle here is written independently of the library: torch.func.jacrev of the model's
output on each probe point, contracted with the rates as Σ_p η_p J_p(x) J_p(x')ᵀ.
"""

import fnmatch

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from richlazy.nn import empirical_ntk, kernel_distance, ntk_routes, unbalance
from richlazy.nn.geometry import NORM_TYPES
from richlazy.nn.models import MLP, ResNet18, SmallCNN
from richlazy.nn.ntk import METHODS

pytestmark = pytest.mark.usefixtures("single_thread")
D = torch.float64


def brute_force(model, x1, x2=None, kernel="sum", rates=None):
    """Θ from the Jacobian of each probe point's output, parameter by parameter: plain autograd,
    one point and one output at a time (no vmap, whose batching rules the library relies on)."""
    model.eval()
    params = {n: p.detach().clone().requires_grad_() for n, p in model.named_parameters()
              if p.requires_grad}  # fmt: skip
    rates = rates or {}

    def jac(x):
        rows = []
        for xi in x:
            out = functional_call(model, params, (xi[None],)).reshape(-1)  # (O,)
            grads = [torch.autograd.grad(o, list(params.values()), retain_graph=True,
                                         allow_unused=True) for o in out]  # fmt: skip
            rows.append({n: torch.stack([torch.zeros_like(p) if g[i] is None else g[i]
                                         for g in grads]).reshape(len(out), -1)
                         for i, (n, p) in enumerate(params.items())})  # fmt: skip
        return {n: torch.stack([r[n] for r in rows]) for n in params}  # (N, O, P_n)

    j1 = jac(x1)
    j2 = j1 if x2 is None else jac(x2)
    full = sum(
        rates.get(n, 1.0) * torch.einsum("aop,bqp->aobq", j1[n], j2[n]).to(D) for n in params
    )  # (N1, O, N2, O)
    if kernel == "full":
        return full
    if kernel == "trace":
        return torch.einsum("aobo->ab", full)
    return full.sum((1, 3))


def relative(a, b):
    return float((a - b).norm() / b.norm())


class TwoOutputs(nn.Module):
    """A model with several outputs: a shared trunk and two heads, concatenated."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(5, 6)
        self.head_a = nn.Linear(6, 2)
        self.head_b = nn.Linear(6, 1, bias=False)

    def forward(self, x):
        h = torch.tanh(self.trunk(x))
        return torch.cat([self.head_a(h), self.head_b(h) ** 2], 1)  # (N, 3)


class ConvNet(nn.Module):
    """Conv2d with stride, dilation, padding modes, groups and bias; in-place ReLU."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 4, 3, stride=2, padding=1)
        self.b = nn.Conv2d(4, 6, 3, padding=2, dilation=2, bias=False)
        self.c = nn.Conv2d(6, 6, 3, groups=3, padding="same")
        self.d = nn.Conv2d(6, 4, 1, stride=2)
        self.e = nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular")
        self.fc = nn.Linear(4 * 2 * 2, 2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.relu(self.a(x))  # (N, 4, 4, 4)
        x = self.relu(self.c(self.relu(self.b(x))))
        x = self.e(self.relu(self.d(x)))  # (N, 4, 2, 2)
        return self.fc(x.flatten(1))


def gram_cnn():
    """Few positions and many channels: the Gram routes of a strided convolution (patches),
    of a dilated one (the input Gram's shifted diagonals) and of the Linear readout."""
    return nn.Sequential(
        nn.Conv2d(2, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),  # 4×4 -> 2×2
        nn.Conv2d(32, 32, 3, padding=2, dilation=2, bias=False), nn.BatchNorm2d(32),
        nn.Flatten(), nn.Linear(128, 2), nn.LayerNorm(2),
    )  # fmt: skip


def models():
    torch.manual_seed(0)
    return {
        "mlp": (MLP(5, 7, 2, 3).to(D), torch.randn(7, 5, dtype=D), torch.randn(3, 5, dtype=D)),
        "mlp-bias": (
            MLP(5, 6, 2, 2, bias=True, leak=0.1).to(D),
            torch.randn(6, 5, dtype=D),
            torch.randn(4, 5, dtype=D),
        ),
        "cnn": (
            ConvNet().to(D),
            torch.randn(5, 2, 8, 8, dtype=D),
            torch.randn(2, 2, 8, 8, dtype=D),
        ),
        "outputs": (TwoOutputs().to(D), torch.randn(6, 5, dtype=D), torch.randn(3, 5, dtype=D)),
        "cnn-gram": (
            gram_cnn().to(D),
            torch.randn(5, 2, 4, 4, dtype=D),
            torch.randn(3, 2, 4, 4, dtype=D),
        ),
    }


@pytest.mark.parametrize("name", ["mlp", "mlp-bias", "cnn", "outputs", "cnn-gram"])
@pytest.mark.parametrize("kernel", ["sum", "trace", "full"])
def test_matches_the_jacobian_contraction(name, kernel):
    model, x1, x2 = models()[name]
    for second in (None, x2):
        expected = brute_force(model, x1, second, kernel)
        for method in ("layerwise", "jacobian"):
            K = empirical_ntk(model, x1, second, kernel=kernel, method=method)
            assert K.dtype == D and K.shape == expected.shape and not K.requires_grad
            assert relative(K, expected) <= 1e-10, (name, kernel, method, second is None)


def test_the_routes_the_oracle_tests_go_through():
    model, x1, _ = models()["cnn-gram"]
    routes = ntk_routes(model, x1)
    assert routes["0.weight"] == "per-sample" and routes["0.bias"] == "per-sample"
    assert routes["2.weight"] == routes["4.weight"] == routes["7.weight"] == "gram"
    assert routes["5.weight"] == "per-sample"  # BatchNorm in eval mode, closed form
    assert routes["8.weight"] == "torch.func, module"  # LayerNorm
    shared = ntk_routes(Shared().to(D), torch.randint(0, 9, (4, 6)), kernel="full")
    assert shared["embed.weight"] == shared["mix.weight"] == "per-sample, shared"
    assert shared["gate.weight"] == "torch.func, model"


@pytest.mark.parametrize("name", ["mlp-bias", "cnn", "outputs"])
def test_rates_from_an_optimizer_and_a_geometry(name):
    model, x1, x2 = models()[name]
    names = [n for n, _ in model.named_parameters()]
    rates = {n: 0.5 + i for i, n in enumerate(names)}
    groups = [{"params": [p], "lr": rates[n]} for n, p in model.named_parameters()]
    optimizer = torch.optim.SGD(groups, lr=1.0)
    for kernel in ("sum", "full"):
        expected = brute_force(model, x1, x2, kernel, rates)
        assert relative(empirical_ntk(model, x1, x2, kernel=kernel, lr_weights=optimizer),
                        expected) <= 1e-10  # fmt: skip
        assert relative(empirical_ntk(model, x1, x2, kernel=kernel, lr_weights=rates),
                        expected) <= 1e-10  # fmt: skip
    geometry = unbalance(model, lr_scales={names[0]: 3.0, names[-1]: 0.25})
    scaled = {names[0]: 3.0, names[-1]: 0.25}
    expected = brute_force(model, x1, x2, "trace", scaled)
    assert relative(empirical_ntk(model, x1, x2, kernel="trace", lr_weights=geometry),
                    expected) <= 1e-10  # fmt: skip


def test_an_optimizer_leaves_out_what_it_does_not_train():
    model, x1, _ = models()["mlp"]
    first = model.layers[0].weight
    optimizer = torch.optim.SGD([first], lr=2.0)
    only_first = brute_force(model, x1, rates={"layers.0.weight": 2.0, "layers.2.weight": 0.0,
                                               "layers.4.weight": 0.0})  # fmt: skip
    assert relative(empirical_ntk(model, x1, lr_weights=optimizer), only_first) <= 1e-10


class Shared(nn.Module):
    """Tied embedding/readout, a layer applied twice, a weight read outside its module."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(9, 4, padding_idx=0)
        self.mix = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 9, bias=False)
        self.head.weight = self.embed.weight  # tied
        self.gate = nn.Linear(4, 4, bias=False)

    def forward(self, tokens):
        h = self.embed(tokens)  # (N, S, 4)
        h = torch.tanh(self.mix(torch.tanh(self.mix(h))))  # the same layer twice
        h = self.norm(h) + h @ self.gate.weight.T  # a weight used outside its module
        return self.head(h).mean(1)  # (N, 9)


def test_shared_weights_positions_and_padding_are_exact():
    torch.manual_seed(1)
    model = Shared().to(D)
    x1, x2 = torch.randint(0, 9, (5, 6)), torch.randint(0, 9, (3, 6))
    for kernel in ("sum", "trace", "full"):
        expected = brute_force(model, x1, x2, kernel)
        assert relative(empirical_ntk(model, x1, x2, kernel=kernel), expected) <= 1e-10


def test_resnet_with_batch_norm_and_in_place_residuals():
    torch.manual_seed(2)
    model = ResNet18(2, width=2).to(D)
    for module in model.modules():  # non-trivial running statistics
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    x = torch.randn(3, 3, 32, 32, dtype=D)
    expected = brute_force(model, x, kernel="trace")
    assert relative(empirical_ntk(model, x, kernel="trace"), expected) <= 1e-10


def test_tiling_under_a_small_memory_budget_gives_the_same_kernel():
    torch.manual_seed(3)
    model = SmallCNN(8, width=4, num_classes=3).to(D)
    x1, x2 = torch.randn(40, 1, 8, 8, dtype=D), torch.randn(9, 1, 8, 8, dtype=D)
    for kernel in ("sum", "full"):
        for second in (None, x2):
            K = empirical_ntk(model, x1, second, kernel=kernel)
            tight = empirical_ntk(model, x1, second, kernel=kernel, max_memory=1 << 20)
            assert relative(tight, K) <= 1e-12
    assert relative(empirical_ntk(model, x1, kernel="sum"), brute_force(model, x1)) <= 1e-10


def test_symmetric_blocks_of_large_gram_products():
    torch.manual_seed(7)
    model = gram_cnn().to(D)
    x = torch.randn(70, 2, 4, 4, dtype=D)  # 70 points × 4 positions: ≥ 256 Gram rows
    for kernel in ("sum", "full"):
        assert (
            relative(empirical_ntk(model, x, kernel=kernel), brute_force(model, x, None, kernel))
            <= 1e-10
        )


def test_float32_models_are_accumulated_in_float64():
    torch.manual_seed(4)
    model = nn.Sequential(SmallCNN(8, width=4, num_classes=2), nn.BatchNorm1d(2)).eval()
    model[1].running_mean.uniform_(-1, 1)
    x = torch.randn(70, 1, 8, 8)  # ≥ 64 points: the symmetric blocks of the float64 products
    K = empirical_ntk(model, x)
    assert K.dtype == D
    # Tolerances. Each Jacobian entry of this float32 CNN is a chain of three dot products of
    # lengths 25, 36 and 32 (conv1, conv2, fc) and its backward pass; with random rounding
    # (Higham & Mary 2019) each rounds at √k·2⁻²⁴ relative, about 6·6e-8 per layer, 3 layers
    # forward and back: ~2e-6 per entry, doubled in K = J Jᵀ: ~4e-6 <= 1e-5 against float64.
    # Measured 2.7e-8 (float64 reference) and 6.8e-9 (jacobian), 1 or 2 threads alike. The two
    # float32 routes are each within ~4e-6 of the float64 kernel, so within ~8e-6 <= 2e-5 of
    # each other whichever kernels the CPU runs (the triangle inequality, no shared rounding).
    assert relative(K, empirical_ntk(model, x, method="jacobian")) <= 2e-5
    reference = brute_force(model.to(D), x.to(D))
    assert relative(K, reference) <= 1e-5  # the model's own rounding in float32


def test_the_model_and_the_random_state_are_left_untouched():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(6, 1)).to(D)  # fmt: skip
    model.train()
    model[1].eval()  # a mixed mode must be restored as it was
    x = torch.randn(5, 4, dtype=D)
    model(x).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    stats = [b.clone() for b in model.buffers()]
    state = torch.get_rng_state()
    empirical_ntk(model, x, kernel="full")
    empirical_ntk(model, x, method="jacobian")
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads, strict=True))
    assert all(torch.equal(b, s) for b, s in zip(model.buffers(), stats, strict=True))
    assert model.training and not model[1].training and model[3].training


def test_frozen_parameters_and_buffers_are_constants():
    torch.manual_seed(6)
    model = MLP(3, 5, 1, 1).to(D)
    model.layers[0].weight.requires_grad_(False)
    model.register_buffer("offset", torch.ones(1, dtype=D))
    x = torch.randn(4, 3, dtype=D)
    expected = brute_force(model, x)
    assert relative(empirical_ntk(model, x), expected) <= 1e-10


def test_batch_statistics_and_bad_inputs_are_refused():
    model = MLP(3, 4, 1).to(D)
    x = torch.randn(4, 3, dtype=D)
    with pytest.raises(TypeError, match=r"model must be a torch.nn.Module"):
        empirical_ntk(lambda z: z, x)
    with pytest.raises(TypeError, match=r"x1 must be a torch.Tensor"):
        empirical_ntk(model, x.numpy())
    with pytest.raises(ValueError, match=r"x2 must have the trailing shape"):
        empirical_ntk(model, x, torch.randn(2, 4, dtype=D))
    with pytest.raises(ValueError, match=r"do not fit the model"):
        empirical_ntk(model, torch.randn(4, 7, dtype=D))
    with pytest.raises(ValueError, match=r"kernel must be one of"):
        empirical_ntk(model, x, kernel="diag")
    with pytest.raises(ValueError, match=r"method must be one of"):
        empirical_ntk(model, x, method="fast")
    with pytest.raises(ValueError, match=r"max_memory"):
        empirical_ntk(model, x, max_memory=10)
    with pytest.raises(TypeError, match=r"lr_weights must be"):
        empirical_ntk(model, x, lr_weights=0.1)
    with pytest.raises(ValueError, match=r"matches no parameter"):
        empirical_ntk(model, x, lr_weights={"decoder.*": 2.0})
    with pytest.raises(ValueError, match=r"without running statistics"):
        empirical_ntk(nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2, track_running_stats=False)),
                      torch.randn(4, 3))  # fmt: skip

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, x):
            return self.lin(x), x

    with pytest.raises(TypeError, match=r"one tensor"):
        empirical_ntk(Pair(), torch.randn(2, 3))


def test_kernel_distance_is_batched_scale_free_and_nan_for_zero():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 4, 4))
    B = rng.normal(size=(3, 4, 4))
    S = kernel_distance(A, B)
    assert isinstance(S, np.ndarray) and S.shape == (3,)
    expected = [
        1 - (a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b) for a, b in zip(A, B, strict=True)
    ]
    np.testing.assert_allclose(S, expected, rtol=1e-13)
    np.testing.assert_allclose(kernel_distance(A * 1e200, B * 1e-200), expected, rtol=1e-13)
    assert np.isnan(kernel_distance(np.zeros((4, 4)), B[0]))
    assert np.all(np.abs(kernel_distance(A, 7 * A)) < 1e-15)
    T = kernel_distance(torch.as_tensor(A), torch.as_tensor(B[0]))  # broadcast, torch in/out
    assert isinstance(T, torch.Tensor) and T.shape == (3,)
    full = rng.normal(size=(2, 3, 2, 3))
    assert kernel_distance(full, full, ndim=4) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match=r"same kernel shape"):
        kernel_distance(A, rng.normal(size=(3, 5, 5)))
    with pytest.raises(ValueError, match=r"do not broadcast"):
        kernel_distance(A, rng.normal(size=(2, 4, 4)))


class Mutates(nn.Module):
    """A layer's input is overwritten after the layer used it (autograd does not need it: the
    layer after it reads the new values)."""

    def __init__(self, mutate: bool):
        super().__init__()
        self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)
        self.mutate = mutate

    def forward(self, x):
        h = x.clone()
        y = self.a(h)
        if self.mutate:
            h.mul_(3.0)  # in place, after self.a used h
            return y + self.b(h)
        return y + self.b(3.0 * h)


def test_an_input_changed_in_place_after_its_layer_ran_is_seen_as_it_was():
    torch.manual_seed(8)
    mutating = Mutates(True).to(D)
    plain = Mutates(False).to(D)
    plain.load_state_dict(mutating.state_dict())
    x = torch.randn(4, 3, dtype=D)
    assert relative(empirical_ntk(mutating, x), brute_force(plain, x)) <= 1e-10


def group_cases():
    """(model, x1, x2, groups): whole layers, a layer split between groups, tied and shared
    weights and a weight on the torch.func route of the model, and groups that leave
    parameters out."""
    torch.manual_seed(9)
    cnn, c1, c2 = models()["cnn"]
    outputs, o1, o2 = models()["outputs"]
    shared = Shared().to(D)
    t1, t2 = torch.randint(0, 9, (5, 6)), torch.randint(0, 9, (3, 6))
    return {
        "cnn": (cnn, c1, c2, {"first": ["a", "b"], "middle": ["c.*", "d"], "last": ["e", "fc"]}),
        "split": (outputs, o1, o2, {"weights": ["*.weight"], "biases": ["*.bias"]}),
        "shared": (shared, t1, t2, {"tied": ["embed"], "mix": ["mix", "norm"], "rest": ["gate"]}),
        "part": (outputs, o1, o2, {"trunk": ["trunk.weight"], "heads": ["head_a", "head_b"]}),
    }


@pytest.mark.parametrize("name", ["cnn", "split", "shared", "part"])
@pytest.mark.parametrize("kernel", ["sum", "trace", "full"])
def test_the_kernel_of_each_group_of_parameters(name, kernel):
    model, x1, x2, groups = group_cases()[name]
    names = [n for n, _ in model.named_parameters()]
    members = {g: {n for n in names for key in keys
                   if n == key or n.startswith(key + ".") or fnmatch.fnmatchcase(n, key)}
               for g, keys in groups.items()}  # fmt: skip
    for second in (None, x2):
        for method in ("layerwise", "jacobian"):
            Ks = empirical_ntk(model, x1, second, kernel=kernel, method=method, groups=groups)
            assert list(Ks) == list(groups)
            for group, K in Ks.items():
                rates = {n: float(n in members[group]) for n in names}
                expected = brute_force(model, x1, second, kernel, rates)
                assert K.dtype == D and relative(K, expected) <= 1e-10, (group, method)
            if set().union(*members.values()) == set(names):  # a partition: the groups add up
                whole = empirical_ntk(model, x1, second, kernel=kernel, method=method)
                assert relative(sum(Ks.values()), whole) <= 1e-12


def test_groups_tiled_under_a_small_budget_and_each_as_if_alone():
    torch.manual_seed(3)
    model = SmallCNN(8, width=4, num_classes=3).to(D)
    x1, x2 = torch.randn(40, 1, 8, 8, dtype=D), torch.randn(9, 1, 8, 8, dtype=D)
    layers = sorted({n.rsplit(".", 1)[0] for n, _ in model.named_parameters()})
    groups = {layer: [layer] for layer in layers}
    for second in (None, x2):
        Ks = empirical_ntk(model, x1, second, kernel="trace", groups=groups)
        tight = empirical_ntk(model, x1, second, kernel="trace", groups=groups, max_memory=1 << 20)
        for layer in layers:
            assert relative(tight[layer], Ks[layer]) <= 1e-12
            # the same contraction, in the same order, as a kernel of that layer alone: equal
            for n, p in model.named_parameters():
                p.requires_grad_(n.startswith(layer + "."))
            alone = empirical_ntk(model, x1, second, kernel="trace")
            for p in model.parameters():
                p.requires_grad_(True)
            assert torch.equal(Ks[layer], alone), layer


def test_bad_groups_are_refused():
    model, x, _ = models()["mlp-bias"]
    with pytest.raises(TypeError, match=r"groups must be a non-empty mapping"):
        empirical_ntk(model, x, groups=["layers.0"])
    with pytest.raises(TypeError, match=r"groups must be a non-empty mapping"):
        empirical_ntk(model, x, groups={})
    with pytest.raises(TypeError, match=r"groups\['a'\] must be a non-empty list"):
        empirical_ntk(model, x, groups={"a": "layers.0.weight"})
    with pytest.raises(TypeError, match=r"groups\['a'\] must be a non-empty list"):
        empirical_ntk(model, x, groups={"a": []})
    with pytest.raises(ValueError, match=r"groups\['a'\] key 'decoder' matches no parameter"):
        empirical_ntk(model, x, groups={"a": ["decoder"]})
    with pytest.raises(ValueError, match=r"groups\['a'\] lists \['layers.0'\] more than once"):
        empirical_ntk(model, x, groups={"a": ["layers.0", "layers.0"]})
    with pytest.raises(
        ValueError, match=r"'layers.0.weight' is in groups\['a'\].*must not overlap"
    ):
        empirical_ntk(model, x, groups={"a": ["layers.0"], "b": ["layers.0.weight"]})
    with pytest.raises(ValueError, match=r"in groups\['a'\] \(from 'layers.0'\) and groups\['a'\]"):
        empirical_ntk(model, x, groups={"a": ["layers.0", "*.weight"]})
    frozen = MLP(5, 6, 2, 2, bias=True).to(D)
    frozen.layers[0].bias.requires_grad_(False)
    with pytest.raises(ValueError, match=r"'layers.0.bias' \(from 'layers.0'\) is not trained"):
        empirical_ntk(frozen, x, groups={"a": ["layers.0"]})


class Readout(nn.Module):
    """One layer, then a nonlinear readout of two outputs."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        y = self.layer(x)
        y = (y[0] if isinstance(y, tuple) else y).reshape(x.shape[0], -1)  # (N, features)
        return torch.stack([y.sum(1), (y**2).mean(1)], 1)  # (N, 2)


class ScaledPReLU(nn.PReLU):
    """A PReLU subclass with its own forward: not the closed-form route."""

    def forward(self, x):
        return 2.0 * super().forward(x)


class ScaledBatchNorm(nn.BatchNorm2d):
    """A BatchNorm subclass with its own forward: torch.func on the module, not the closed form."""

    def forward(self, x):
        return 2.0 * super().forward(x)


def layers():
    """Every kind of layer: closed forms, torch.func on the module, torch.func on the model."""
    return {
        "Linear": (nn.Linear(4, 3), (4,)),
        "Linear on positions": (nn.Linear(4, 3), (3, 4)),
        "Conv1d": (nn.Conv1d(2, 3, 3), (2, 7)),
        "Conv2d": (nn.Conv2d(2, 3, 3, stride=2), (2, 6, 6)),
        "Conv2d circular": (nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), (2, 4, 4)),
        "Embedding": (nn.Embedding(7, 3), None),
        "BatchNorm1d": (nn.BatchNorm1d(4), (4,)),
        "BatchNorm1d on positions": (nn.BatchNorm1d(4), (4, 3)),
        "BatchNorm2d": (nn.BatchNorm2d(2), (2, 3, 3)),
        "BatchNorm3d": (nn.BatchNorm3d(2), (2, 2, 3, 3)),
        "BatchNorm subclass": (ScaledBatchNorm(2), (2, 3, 3)),
        "LayerNorm": (nn.LayerNorm([3, 4]), (3, 4)),
        "GroupNorm": (nn.GroupNorm(2, 4), (4, 3)),
        "InstanceNorm1d": (nn.InstanceNorm1d(4, affine=True), (4, 6)),
        "InstanceNorm2d": (nn.InstanceNorm2d(2, affine=True, track_running_stats=True), (2, 3, 3)),
        "InstanceNorm3d": (nn.InstanceNorm3d(2, affine=True), (2, 2, 3, 3)),
        "RMSNorm": (nn.RMSNorm(4), (3, 4)),
        "PReLU": (nn.PReLU(), (4,)),
        "PReLU per channel": (nn.PReLU(4), (4,)),
        "PReLU per channel 2d": (nn.PReLU(2), (2, 3, 3)),
        "PReLU subclass": (ScaledPReLU(2), (2, 3)),
        "Conv3d": (nn.Conv3d(2, 3, 2), (2, 3, 3, 3)),
        "ConvTranspose2d": (nn.ConvTranspose2d(2, 3, 3), (2, 3, 3)),
        "EmbeddingBag": (nn.EmbeddingBag(7, 3), None),
        "RNN": (nn.RNN(4, 3, batch_first=True), (6, 4)),
        "LSTM": (nn.LSTM(4, 3, batch_first=True), (6, 4)),
        "GRU": (nn.GRU(4, 3, batch_first=True), (6, 4)),
        "RNNCell": (nn.RNNCell(4, 3), (4,)),
    }


@pytest.mark.parametrize("name", list(layers()))
def test_every_kind_of_layer_is_exact(name):
    torch.manual_seed(10)
    layer, shape = layers()[name]
    for module in layer.modules():  # non-trivial running statistics
        if getattr(module, "running_mean", None) is not None:
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    model = Readout(layer).to(D)
    if shape is None:
        x1, x2 = torch.randint(0, 7, (5, 4)), torch.randint(0, 7, (3, 4))
    else:
        x1, x2 = torch.randn(5, *shape, dtype=D), torch.randn(3, *shape, dtype=D)
    for kernel in ("sum", "trace"):
        for second in (None, x2):
            expected = brute_force(model, x1, second, kernel)
            for method in ("layerwise", "jacobian"):
                K = empirical_ntk(model, x1, second, kernel=kernel, method=method)
                assert relative(K, expected) <= 1e-10, (kernel, method, second is None)


def test_every_normalisation_layer_is_among_the_kinds_tested():
    tested = {type(layer) for layer, _ in layers().values()}
    assert set(NORM_TYPES) - {nn.SyncBatchNorm} <= tested


class Prototypes(nn.Module):
    """Learned prototypes through the same Linear as the inputs: a call whose leading size is
    the number of prototypes, not of probe points."""

    def __init__(self, n):
        super().__init__()
        self.prototypes = nn.Parameter(torch.randn(n, 3))
        self.embed = nn.Linear(3, 4)

    def forward(self, x):
        return torch.tanh(self.embed(x)) @ torch.tanh(self.embed(self.prototypes)).T  # (N, n)


class SequenceFirst(nn.Module):
    """A sequence-first transformer layer inside a batch-first model."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0)
        self.readout = nn.Linear(4, 2)

    def forward(self, x):  # (N, S, 4)
        h = self.encoder(x.transpose(0, 1)).transpose(0, 1)  # (N, S, 4)
        return self.readout(h).mean(1)  # (N, 2)


def test_a_leading_size_equal_to_the_number_of_points_is_not_taken_for_the_probe_dim():
    torch.manual_seed(11)
    cases = [
        (Prototypes(5), torch.randn(5, 3, dtype=D), torch.randn(5, 3, dtype=D)),
        (Prototypes(1), torch.randn(1, 3, dtype=D), torch.randn(1, 3, dtype=D)),
        (SequenceFirst(), torch.randn(6, 6, 4, dtype=D), torch.randn(6, 6, 4, dtype=D)),
    ]
    for model, x1, x2 in cases:
        model = model.to(D)
        for kernel in ("sum", "trace"):
            for second in (None, x2):
                expected = brute_force(model, x1, second, kernel)
                assert relative(empirical_ntk(model, x1, second, kernel=kernel),
                                expected) <= 1e-10, type(model).__name__  # fmt: skip
    routes = ntk_routes(cases[0][0], cases[0][1])
    assert routes["embed.weight"] == "torch.func, model"  # one of its calls is not per point
    routes = ntk_routes(cases[2][0], cases[2][1])
    assert routes["encoder.linear1.weight"] == "torch.func, model"
    assert routes["readout.weight"] == "per-sample"


class Mixes(nn.Module):
    """A model whose output on a point depends on the other points (``mix``), or whose layers
    see the points in another order than the output rows (``reverse``)."""

    def __init__(self, how):
        super().__init__()
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)
        self.how = how

    def forward(self, x):
        if self.how == "mix":
            h = self.a(x)
            return self.b(h - h.mean(0))
        return self.b(torch.tanh(self.a(x.flip(0)))).flip(0)


def test_a_model_mixing_its_probe_points_is_refused_and_one_reordering_them_is_exact():
    torch.manual_seed(12)
    x = torch.randn(5, 3, dtype=D)
    with pytest.raises(ValueError, match=r"depends on the others .* method='jacobian'"):
        empirical_ntk(Mixes("mix").to(D), x)
    recurrent = Readout(nn.RNN(3, 2)).to(D)  # sequence-first: it runs over the probe points
    with pytest.raises(ValueError, match=r"in a batch of 1 and in a batch of 2"):
        empirical_ntk(recurrent, torch.randn(5, 6, 3, dtype=D))
    reverse = Mixes("reverse").to(D)
    for kernel in ("sum", "full"):
        assert relative(empirical_ntk(reverse, x, kernel=kernel),
                        brute_force(reverse, x, None, kernel)) <= 1e-10  # fmt: skip


class Labels(nn.Module):
    def __init__(self, cast):
        super().__init__()
        self.lin = nn.Linear(3, 4)
        self.cast = cast

    def forward(self, x):
        labels = self.lin(x).argmax(1, keepdim=True)  # (N, 1)
        return labels.to(x.dtype) if self.cast else labels


def test_an_output_not_differentiable_in_the_parameters_is_refused():
    x = torch.randn(4, 3, dtype=D)
    for method in METHODS:
        with pytest.raises(ValueError, match=r"does not depend differentiably"):
            empirical_ntk(Labels(cast=True).to(D), x, method=method)
        with pytest.raises(ValueError, match=r"dtype torch.int64"):
            empirical_ntk(Labels(cast=False).to(D), x, method=method)
    with pytest.raises(ValueError, match=r"does not depend differentiably"):
        ntk_routes(Labels(cast=True).to(D), x)


def test_kernel_distance_refuses_complex_boolean_and_empty_kernels_by_name():
    K = np.eye(3) + 0.1
    for convert in (np.asarray, torch.as_tensor):
        with pytest.raises(TypeError, match=r"Kt must be real, got complex values"):
            kernel_distance(convert(K), convert(K + 1j))
        with pytest.raises(TypeError, match=r"K0 must be a real numeric kernel"):
            kernel_distance(convert(K > 0), convert(K))
        with pytest.raises(ValueError, match=r"K0 and Kt must be non-empty kernels, got kernel "
                                             r"shape \(0, 0\)"):  # fmt: skip
            kernel_distance(convert(np.zeros((2, 0, 0))), convert(np.zeros((2, 0, 0))))
    with pytest.raises(TypeError, match=r"K0 must be a real numeric kernel, got dtype <U1"):
        kernel_distance(np.array([["a"]]), K[:1, :1])
    assert kernel_distance(np.zeros((0, 3, 3)), K).shape == (0,)  # no kernels: no distances
