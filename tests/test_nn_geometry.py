"""unbalance, InitGeometry and conserved_quantities (docs/theory.md §6.1, §5, §4)."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from richlazy.nets import per_neuron_delta, symmetric_pairs
from richlazy.nn import conserved_quantities, empirical_ntk, unbalance
from richlazy.nn.geometry import InitGeometry
from richlazy.nn.models import MLP, ResNet18, SmallCNN

pytestmark = pytest.mark.usefixtures("single_thread")
D = torch.float64


class Wrapped(nn.Module):
    """What DistributedDataParallel (``module.``) and torch.compile (``_orig_mod.``) look like."""

    def __init__(self, inner, attribute):
        super().__init__()
        setattr(self, attribute, inner)
        self.attribute = attribute

    def forward(self, x):
        return getattr(self, self.attribute)(x)


@pytest.mark.parametrize("alpha", [0.25, 1.0, 3.0])
def test_alpha_keeps_the_function_of_bias_free_homogeneous_networks(alpha):
    torch.manual_seed(0)
    for model, x in (
        (MLP(6, 9, 3, 2, leak=0.2).to(D), torch.randn(11, 6, dtype=D)),
        (SmallCNN(8, width=3, num_classes=4).to(D), torch.randn(5, 1, 8, 8, dtype=D)),
    ):
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        out = model(x).detach()
        geometry = unbalance(model, alpha)
        torch.testing.assert_close(model(x), out, rtol=1e-13, atol=1e-14)
        first, last = geometry.first, geometry.last
        for name, p in model.named_parameters():
            factor = (1 / alpha if name.startswith(first + ".") else 1.0) * (
                alpha if name == f"{last}.weight" else 1.0
            )
            assert geometry.scales[name] == pytest.approx(factor, rel=1e-15)
            torch.testing.assert_close(p.detach(), before[name] * factor, rtol=1e-15, atol=0)


def test_first_only_shrinks_the_output_by_alpha():
    torch.manual_seed(1)
    model = MLP(4, 5, 2).to(D)
    x = torch.randn(3, 4, dtype=D)
    out = model(x).detach()
    geometry = unbalance(model, 4.0, rescale_last=False)
    assert geometry.last is None and geometry.first == "layers.0"
    torch.testing.assert_close(model(x), out / 4.0, rtol=1e-13, atol=1e-15)


def test_conserved_quantities_move_as_theory_predicts():
    """δ_k = η_in‖out_k‖² − η_out‖in_k‖²: first-layer terms × 1/α², last-layer terms × α²."""
    torch.manual_seed(2)
    model = MLP(5, 7, 2, 3).to(D)
    W = [model.layers[i].weight.detach().clone() for i in (0, 2, 4)]
    rates = {"layers.0.weight": 0.5, "layers.2.weight": 2.0, "layers.4.weight": 0.3}
    before = conserved_quantities(model, lrs=rates)
    assert list(before.pair.values) == ["layers.0->layers.2", "layers.2->layers.4"]
    assert before.attrs["skipped"] == []
    alpha = 2.5
    unbalance(model, alpha)
    after = conserved_quantities(model, lrs=rates)
    e0, e1, e2 = rates.values()
    pair0_out, pair0_in = e0 * (W[1] ** 2).sum(0), e1 * (W[0] ** 2).sum(1)
    pair1_out, pair1_in = e1 * (W[2] ** 2).sum(0), e2 * (W[1] ** 2).sum(1)
    np.testing.assert_allclose(before.delta[0], pair0_out - pair0_in, rtol=1e-13)
    np.testing.assert_allclose(after.delta[0], pair0_out - pair0_in / alpha**2, rtol=1e-13)
    np.testing.assert_allclose(before.delta[1], pair1_out - pair1_in, rtol=1e-13)
    np.testing.assert_allclose(after.delta[1], alpha**2 * pair1_out - pair1_in, rtol=1e-13)


def test_conserved_quantities_of_the_two_layer_network_are_theorys_delta():
    rng = np.random.default_rng(3)
    u = rng.normal(size=(1, 4, 3))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    nets = symmetric_pairs(u, np.sign(rng.normal(size=(1, 4))), [[0.7]], [[0.3]],
                           eta_a=2.0, eta_w=0.5)  # fmt: skip
    model = nn.Sequential(nn.Linear(3, 8, bias=False), nn.ReLU(), nn.Linear(8, 1, bias=False))
    model = model.to(D)
    with torch.no_grad():
        model[0].weight.copy_(nets.W[0, 0])
        model[2].weight.copy_(nets.a[0, 0][None])
    ds = conserved_quantities(model, lrs={"0.weight": 0.5, "2.weight": 2.0})
    expected = per_neuron_delta(nets, torch.tensor([[2.0]]), torch.tensor([[0.5]]))[0, 0]
    np.testing.assert_allclose(ds.delta.sel(pair="0->2").values, expected.numpy(), rtol=1e-13)
    np.testing.assert_allclose(ds.delta.values, 0.3, rtol=1e-12)  # δ of every neuron


def test_linear_pairs_conserve_the_matrix_and_skips_are_explained():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2, bias=False)).to(D)
    ds = conserved_quantities(model)
    W1 = torch.cat([model[0].weight, model[0].bias[:, None]], 1).detach()
    W2 = model[1].weight.detach()
    np.testing.assert_allclose(ds.delta_matrix[0], W2.T @ W2 - W1 @ W1.T, rtol=1e-13)
    assert ds.kind.values.tolist() == ["linear"]
    skipped = conserved_quantities(ResNet18(2, width=2)).attrs["skipped"]
    assert any("BatchNorm2d" in s for s in skipped)

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 1)

        def forward(self, x):
            h = self.a(x)
            return self.c(torch.relu(self.b(torch.relu(h) + x)) + h)

    skipped = conserved_quantities(Residual()).attrs["skipped"]
    assert any(s.startswith("a: the output of 'a' feeds 2 operations") for s in skipped)
    assert any(s.startswith("b: its output reaches add (a residual") for s in skipped)
    gelu = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 1))
    gelu_ds = conserved_quantities(gelu)
    assert gelu_ds.sizes["pair"] == 0 and "GELU" in gelu_ds.attrs["skipped"][0]


def test_scales_by_name_module_and_glob_multiply_alpha():
    torch.manual_seed(5)
    model = MLP(4, 6, 2, 1, bias=True).to(D)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    geometry = unbalance(model, 2.0, scales={"layers.2": 0.5, "layers.[04].bias": 3.0},
                         lr_scales={"layers.0.*": 10.0})  # fmt: skip
    expected = {
        "layers.0.weight": 0.5, "layers.0.bias": 0.5 * 3.0, "layers.2.weight": 0.5,
        "layers.2.bias": 0.5, "layers.4.weight": 2.0, "layers.4.bias": 3.0,
    }  # fmt: skip
    assert dict(geometry.scales) == pytest.approx(expected, rel=1e-15)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), before[name] * expected[name], rtol=1e-15, atol=0)
    assert geometry.lr_scales["layers.0.bias"] == 10.0 and geometry.lr_scales["layers.2.bias"] == 1


def test_a_parameter_matched_by_two_keys_is_refused():
    model = MLP(4, 6, 2, 1, bias=True)
    with pytest.raises(ValueError, match=r"matched by both"):
        unbalance(model, scales={"layers.2": 0.5, "*.bias": 2.0})


def test_param_groups_feed_any_optimizer_and_survive_json():
    torch.manual_seed(6)
    model = MLP(4, 6, 2, 1, bias=True).to(D)
    geometry = unbalance(model, 2.0, lr_scales={"layers.0": 10.0, "layers.4.weight": 0.1})
    groups = geometry.param_groups(0.01, momentum=0.9)
    assert sorted(g["lr"] for g in groups) == pytest.approx([0.001, 0.01, 0.1])
    assert all(g["momentum"] == 0.9 for g in groups)
    for optimizer in (torch.optim.SGD(groups), torch.optim.Adam(geometry.param_groups(1e-3))):
        assert sum(len(g["params"]) for g in optimizer.param_groups) == 6
    loaded = InitGeometry.from_json(json.dumps(json.loads(geometry.to_json())))
    assert loaded == geometry and loaded.alpha == 2.0 and loaded.first == "layers.0"
    with pytest.raises(ValueError, match=r"pass model="):
        loaded.param_groups(0.1)
    again = loaded.param_groups(0.01, model=model)
    assert [g["lr"] for g in again] == [g["lr"] for g in groups]
    with pytest.raises(TypeError, match=r"sets 'params' and 'lr'"):
        geometry.param_groups(0.1, params=[])
    with pytest.raises(ValueError, match=r"differ from the geometry"):
        geometry.param_groups(0.1, model=MLP(4, 6, 3, 1))


# torch.compile as collected: importing lightning (tests/test_nn_loggers.py) rebinds it
COMPILE = torch.compile


@pytest.mark.parametrize("wrap", [nn.DataParallel, COMPILE, lambda m: Wrapped(m, "net")])
def test_wrapper_prefixes_are_removed(wrap):
    torch.manual_seed(7)
    inner = MLP(3, 4, 2).to(D)
    wrapped = wrap(inner)
    prefix = {nn.DataParallel: "module.", COMPILE: "_orig_mod."}.get(wrap, "net.")
    geometry = unbalance(wrapped, 2.0, lr_scales={f"{prefix}layers.2": 3.0})
    names = {"layers.0.weight", "layers.2.weight", "layers.4.weight"}
    if prefix == "net.":  # a submodule of the user's own is part of the names
        names = {prefix + n for n in names}
    assert set(geometry.scales) == names
    assert geometry.lr_scales[f"{prefix if prefix == 'net.' else ''}layers.2.weight"] == 3.0
    groups = geometry.param_groups(1.0, model=wrapped)
    assert [g["lr"] for g in groups] == [1.0, 3.0]
    assert groups[1]["params"] == [inner.layers[2].weight] and len(groups[0]["params"]) == 2
    with pytest.raises(ValueError, match=r"already unbalanced"):
        unbalance(inner, 2.0)  # the same tensors behind the wrapper
    x = torch.randn(5, 3, dtype=D)
    torch.testing.assert_close(
        empirical_ntk(wrapped, x, lr_weights=geometry),
        empirical_ntk(inner if prefix != "net." else wrapped, x, lr_weights=geometry),
        rtol=1e-14,
        atol=0,
    )


def test_a_submodule_named_module_is_not_a_wrapper():
    """Only DataParallel, DDP and torch.compile wrap: a user's ``module`` attribute is a name."""
    model = nn.Sequential()
    model.add_module("module", nn.Linear(3, 4))
    model.add_module("relu", nn.ReLU())
    model.add_module("out", nn.Linear(4, 1))
    geometry = unbalance(model.to(D), 2.0, lr_scales={"module.weight": 5.0})
    assert geometry.first == "module" and geometry.last == "out"
    assert set(geometry.scales) == {"module.weight", "module.bias", "out.weight", "out.bias"}
    assert geometry.lr_scales == {"module.weight": 5.0, "module.bias": 1.0,
                                  "out.weight": 1.0, "out.bias": 1.0}  # fmt: skip


@pytest.mark.parametrize(
    ("dtype", "alpha", "scales", "match"),
    [
        (torch.float32, 1e40, None, r"alpha give parameter 'layers.0.weight' \(torch.float32\)"
                                    r" the factor 1e-40: its values would underflow to 0"),
        (torch.float32, 1e-40, None, r"alpha give parameter 'layers.0.weight' .* overflow"),
        (torch.float32, None, {"layers.2": 1e40}, r"scales give parameter 'layers.2.weight'"),
        (torch.float32, 2.0, {"layers.0.weight": 1e-39},
         r"alpha and scales give parameter 'layers.0.weight'"),
        (torch.float16, 1e6, None, r"'layers.0.weight' \(torch.float16\) the factor 1e-06"),
        (torch.float16, 1e-6, None, r"'layers.0.weight' \(torch.float16\) the factor 1e\+06"),
    ],
)  # fmt: skip
def test_factors_beyond_the_dtype_are_refused_and_nothing_changes(dtype, alpha, scales, match):
    torch.manual_seed(0)
    model = MLP(3, 4, 1).to(dtype)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=match):
        unbalance(model, alpha, scales=scales)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
    unbalance(model, 2.0)  # nothing was registered either
    assert all(torch.isfinite(p).all() and (p != 0).any() for p in model.parameters())


def test_a_tie_of_the_first_or_last_layer_to_a_middle_one_is_refused_and_nothing_changes():
    for end in ("first", "last"):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(),
                              nn.Linear(4, 4))  # fmt: skip
        tied = 0 if end == "first" else 4
        model[2].weight = model[tied].weight  # the middle layer shares the weight
        x = torch.randn(3, 4)
        out = model(x)
        before = [p.detach().clone() for p in model.parameters()]
        with pytest.raises(ValueError, match=rf"of the {end} layer '{tied}' is tied to the layer"
                                             r" '2' in between: .*untie them"):  # fmt: skip
            unbalance(model, 2.0)
        assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
        torch.testing.assert_close(model(x), out, rtol=0, atol=0)
        unbalance(model, 2.0, rescale_last=False) if end == "last" else None


def test_a_failure_after_the_first_layer_changes_nothing():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    model[2].weight.data = model[2].weight.data.to(torch.float16)  # a mixed model
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"'2.weight' \(torch.float16\) the factor 1e\+06"):
        unbalance(model, 1e6)  # float32 holds 1e-6 for the first layer, float16 not 1e6
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
    unbalance(model, 2.0)  # not registered by the failed call


def test_a_second_unbalance_needs_force():
    model = MLP(3, 4, 1).to(D)
    w = model.layers[0].weight.detach().clone()
    unbalance(model, 2.0)
    with pytest.raises(ValueError, match=r"already unbalanced.*force=True"):
        unbalance(model, 2.0)
    torch.testing.assert_close(model.layers[0].weight.detach(), w / 2, rtol=0, atol=0)
    unbalance(model, 2.0, force=True)
    torch.testing.assert_close(model.layers[0].weight.detach(), w / 4, rtol=1e-15, atol=0)


@pytest.mark.parametrize("alpha", [0.0, -1.0, math.nan, math.inf])
def test_bad_alpha_is_refused(alpha):
    with pytest.raises(ValueError, match=r"alpha must be"):
        unbalance(MLP(3, 4, 1), alpha)


def test_bad_input_is_refused_and_nothing_changes():
    model = MLP(3, 4, 1)
    w = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(TypeError, match=r"model must be a torch.nn.Module"):
        unbalance("mlp", 2.0)
    with pytest.raises(TypeError, match=r"alpha must be a real number"):
        unbalance(model, True)
    with pytest.raises(ValueError, match=r"'decoder' matches no parameter"):
        unbalance(model, 2.0, scales={"decoder": 2.0})
    with pytest.raises(ValueError, match=r"lr_scales key 'layers.9"):
        unbalance(model, lr_scales={"layers.9.*": 2.0})
    with pytest.raises(TypeError, match=r"scales must be a mapping"):
        unbalance(model, scales=[("layers.0", 2.0)])
    with pytest.raises(ValueError, match=r"one layer only"):
        unbalance(nn.Linear(3, 1), 2.0)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), w, strict=True))

    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(3))
            self.fc = nn.Linear(3, 1)
            self.out = nn.Linear(1, 1)

        def forward(self, x):
            return self.out(self.fc(x * self.scale))

    with pytest.raises(ValueError, match=r"cannot tell which layer is first.*scales="):
        unbalance(Custom(), 2.0)
    unbalance(Custom(), scales={"scale": 0.5, "out.weight": 2.0})  # the way the error says

    class NoLayers(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(3))

    with pytest.raises(ValueError, match=r"cannot identify the first and last layers.*scales="):
        unbalance(NoLayers(), 2.0)

    tied = nn.Sequential(nn.Embedding(5, 5), nn.Linear(5, 5, bias=False))
    tied[1].weight = tied[0].weight
    with pytest.raises(ValueError, match=r"tied between the first layer"):
        unbalance(tied, 2.0)


class _Embedded(nn.Module):
    """A transformer-like stack: two input embeddings, a body, an unembedding."""

    def __init__(self):
        super().__init__()
        self.embed, self.pos = nn.Embedding(5, 4), nn.Embedding(3, 4)
        self.body = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
        self.unembed = nn.Linear(4, 5, bias=False)


def test_first_and_last_can_be_named_and_the_geometry_records_them():
    torch.manual_seed(0)
    model = _Embedded()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    geometry = unbalance(model, 4.0, first=("embed", "pos"), last="unembed")
    assert (geometry.first, geometry.last) == ("embed, pos", "unembed")
    ratio = {k: float((v / before[k]).mean()) for k, v in model.state_dict().items()}
    assert ratio == pytest.approx(
        {"embed.weight": 0.25, "pos.weight": 0.25, "body.0.weight": 1.0, "body.0.bias": 1.0,
         "unembed.weight": 4.0}
    )  # fmt: skip
    inner = unbalance(_Embedded(), 2.0, first="body", rescale_last=False)  # a parent module
    assert inner.scales["body.0.weight"] == inner.scales["body.0.bias"] == 0.5
    assert InitGeometry.from_json(geometry.to_json()).first == "embed, pos"


@pytest.mark.parametrize(
    "options, kind, message",
    [
        ({"first": "nope"}, ValueError, "first: 'nope' is no module with parameters"),
        ({"last": ("embed", "pos")}, ValueError, "last must name one module"),
        ({"first": 3}, TypeError, "first must be a module name"),
        ({"first": "unembed", "last": "unembed"}, ValueError, "both 'unembed'"),
    ],
)
def test_named_layers_are_checked(options, kind, message):
    with pytest.raises(kind, match=message):
        unbalance(_Embedded(), 2.0, **options)
    with pytest.raises(ValueError, match="give alpha too"):
        unbalance(_Embedded(), None, first="embed")


def test_from_json_checks_what_it_loads():
    good = unbalance(MLP(3, 4, 1).to(D), 2.0).to_dict()
    assert InitGeometry.from_json(json.dumps(good)) == InitGeometry.from_dict(good)
    for change, error, match in [
        ({"scales": {**good["scales"], "layers.0.weight": -1.0}}, ValueError,
         r"data\['scales'\]\['layers.0.weight'\] must be > 0"),
        ({"lr_scales": {**good["lr_scales"], "layers.0.weight": "x"}}, TypeError,
         r"data\['lr_scales'\]\['layers.0.weight'\] must be a real number"),
        ({"scales": [1.0]}, TypeError, r"data\['scales'\] must be a mapping"),
        ({"alpha": 0.0}, ValueError, r"data\['alpha'\] must be > 0"),
        ({"alpha": "2"}, TypeError, r"data\['alpha'\] must be a real number"),
        ({"rescale_last": "yes"}, TypeError, r"data\['rescale_last'\] must be a bool"),
        ({"first": 3}, TypeError, r"data\['first'\] must be a module name or None"),
        ({"extra": 1}, ValueError, r"data has unknown fields \['extra'\]"),
        ({"lr_scales": {"layers.0.weight": 1.0}}, ValueError, r"must name the same parameters"),
    ]:  # fmt: skip
        with pytest.raises(error, match=match):
            InitGeometry.from_json(json.dumps({**good, **change}))
    with pytest.raises(ValueError, match=r"text is not JSON written by InitGeometry.to_json"):
        InitGeometry.from_json("{scales")
    with pytest.raises(TypeError, match=r"text must be the JSON string"):
        InitGeometry.from_json(None)
    with pytest.raises(ValueError, match=r"data must be a mapping"):
        InitGeometry.from_json("[1, 2]")


def _project_models():
    from richlazy.nn.models import (
        DawnResNet,
        GrokkingTransformer,
        HierarchicalCNN,
        LeNet5,
        MeanFieldMLP,
    )

    torch.manual_seed(0)
    return {
        "HierarchicalCNN": (HierarchicalCNN(4, 6, 2), torch.randn(3, 4, 4, dtype=D),
                            ["layers.0->layers.2", "layers.2->readout"]),
        "MeanFieldMLP": (MeanFieldMLP(5, width=6, depth=2), torch.randn(3, 5, dtype=D),
                         ["hidden.0->hidden.1", "hidden.1->readout"]),
        "LeNet5": (LeNet5(), torch.randn(2, 1, 28, 28, dtype=D),
                   ["conv1->conv2", "conv2->fc1", "fc1->fc2", "fc2->fc3"]),
        "DawnResNet": (DawnResNet(width=4), torch.randn(2, 3, 8, 8, dtype=D), []),
        "GrokkingTransformer": (GrokkingTransformer(7, d_model=8, n_heads=2),
                                torch.randint(0, 9, (3, 4)), []),
    }  # fmt: skip


def test_the_project_models_are_traced_and_their_pairs_are_symmetries():
    """Every pair found is a symmetry: scaling unit k's incoming weights by c and its outgoing
    ones by 1/c leaves the output unchanged (float64, to rounding)."""
    for name, (model, x, expected) in _project_models().items():
        model = model.to(D).eval()
        ds = conserved_quantities(model)
        assert list(ds.pair.values) == expected, name
        assert not any("could not trace" in s for s in ds.attrs["skipped"]), name
        if not expected:
            assert ds.attrs["skipped"], name  # each layer not paired says why
        out = model(x)
        modules = dict(model.named_modules())
        for inner, outer in (p.split("->") for p in expected):
            k, c = 1, 3.0
            with torch.no_grad():
                modules[inner].weight[k] *= c
                if modules[inner].bias is not None:
                    modules[inner].bias[k] *= c
                w = modules[outer].weight
                if w.ndim == 2 and w.shape[1] != modules[inner].weight.shape[0]:  # flattened
                    w.view(w.shape[0], modules[inner].weight.shape[0], -1)[:, k] /= c
                else:
                    w[:, k] /= c
            torch.testing.assert_close(model(x), out, rtol=1e-12, atol=1e-12, msg=name)


def test_ddp_dataparallel_and_compiled_models_are_measured_as_the_model_inside(tmp_path):
    """A single-process gloo group on loopback: DDP's forward is the inner model's."""
    import torch.distributed as dist

    from richlazy.nn import FeatureMonitor

    torch.manual_seed(0)
    model = SmallCNN(8, width=2, num_classes=3).to(D)
    x = torch.randn(4, 1, 8, 8, dtype=D)
    K = empirical_ntk(model, x)
    plain_pairs = conserved_quantities(model)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0,
                            world_size=1)  # fmt: skip
    try:
        wrappers = [nn.parallel.DistributedDataParallel(model), nn.DataParallel(model),
                    torch.compile(model), nn.DataParallel(torch.compile(model))]  # fmt: skip
        for wrapped in wrappers:
            torch.testing.assert_close(empirical_ntk(wrapped, x), K, rtol=1e-13, atol=0)
            pairs = conserved_quantities(wrapped)
            assert (
                list(pairs.pair.values)
                == list(plain_pairs.pair.values)
                == ["conv1->conv2", "conv2->fc"]
            )
            np.testing.assert_array_equal(pairs.delta.values, plain_pairs.delta.values)
            monitor = FeatureMonitor(wrapped, x)
            record = monitor.log(0)
            assert record["kernel_norm"] == pytest.approx(float(torch.linalg.matrix_norm(K)))
            assert monitor.to_xarray().pair.values.tolist() == ["conv1->conv2", "conv2->fc"]
    finally:
        dist.destroy_process_group()
