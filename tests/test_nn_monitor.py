"""FeatureMonitor: the two-layer metrics of richlazy.metrics, and no effect on training."""

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from richlazy import metrics
from richlazy.nets import TwoLayerNets, symmetric_pairs
from richlazy.nn import FeatureMonitor, log_schedule
from richlazy.nn.models import SmallCNN

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("single_thread")
D = torch.float64


def student(nets: TwoLayerNets) -> nn.Module:
    """The two-layer ReLU student of docs/theory.md §5.1 as a plain module."""
    m, d = nets.W.shape[2:]
    model = nn.Sequential(nn.Linear(d, m, bias=False), nn.ReLU(), nn.Linear(m, 1, bias=False))
    model = model.to(D)
    with torch.no_grad():
        model[0].weight.copy_(nets.W[0, 0])
        model[2].weight.copy_(nets.a[0, 0][None])
    return model


def as_nets(model: nn.Module) -> TwoLayerNets:
    W = model[0].weight.detach().clone()[None, None]  # (1, 1, m, d)
    return TwoLayerNets(W=W, a=model[2].weight.detach().clone()[0][None, None])


@pytest.mark.parametrize("delta", [-0.9, 0.0, 0.9])
def test_the_monitor_measures_what_richlazy_metrics_measures(delta):
    rng = np.random.default_rng(0)
    d, half, n = 5, 6, 16
    u = rng.normal(size=(1, half, d))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    eta_a, eta_w = 2.0, 0.5
    nets = symmetric_pairs(u, np.sign(rng.normal(size=(1, half))), [[0.3]], [[delta]],
                           eta_a=eta_a, eta_w=eta_w)  # fmt: skip
    model = student(nets)
    X = torch.as_tensor(rng.normal(size=(n, d)))
    y = torch.as_tensor(rng.normal(size=n))
    lr = 0.05
    optimizer = torch.optim.SGD([{"params": [model[0].weight], "lr": lr * eta_w},
                                 {"params": [model[2].weight], "lr": lr * eta_a}])  # fmt: skip
    monitor = FeatureMonitor(model, X, optimizer=optimizer, every=25)
    start = as_nets(model)
    snapshots = []
    for step in range(101):
        if monitor.maybe_log(step):
            snapshots.append(as_nets(model))
        loss = 0.5 * ((model(X)[:, 0] - y) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    ds = monitor.to_xarray()
    assert ds.step.values.tolist() == [0, 25, 50, 75, 100]
    Xb = X[None]  # (S, n, d)
    for i, current in enumerate(snapshots):
        S = metrics.kernel_distance(start, current, Xb, eta_a, eta_w)[0, 0]
        H = metrics.hamming_distance(start, current, Xb)[0, 0]
        P = metrics.parameter_distance(start, current)[0, 0]
        record = ds.isel(step=i)
        assert float(record.kernel_distance) == pytest.approx(float(S), rel=1e-10, abs=1e-13)
        assert float(record.hamming_distance.sel(layer="1")) == pytest.approx(float(H), abs=1e-12)
        assert float(record.parameter_distance) == pytest.approx(float(P), rel=1e-10, abs=1e-14)
        K = metrics.ntk(current, Xb, eta_a, eta_w)[0, 0] * lr  # the optimizer's rates lr·η
        assert float(record.kernel_norm) == pytest.approx(float(K.norm()), rel=1e-10)
        drift = metrics.conservation_drift(start, current, eta_a, eta_w)[0, 0] * lr  # δ scales
        assert float(record.conserved_drift.sel(pair="0->2")) == pytest.approx(
            float(drift), rel=1e-9, abs=1e-15
        )
    assert float(ds.kernel_distance[-1]) > 1e-4  # the kernel did move


def model_with_randomness():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(inplace=True),
                         nn.Dropout(0.2), nn.Flatten(), nn.Linear(3 * 8 * 8, 2)).to(D)  # fmt: skip


def train(with_monitor: bool) -> tuple[list[float], list[torch.Tensor]]:
    model = model_with_randomness()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    torch.manual_seed(1)
    x, y = torch.randn(12, 1, 8, 8, dtype=D), torch.randint(0, 2, (12,))
    monitors = [FeatureMonitor(model, x[:5], optimizer=optimizer) for _ in range(with_monitor * 2)]
    losses = []
    for step in range(15):
        if monitors:
            monitors[0].maybe_log(step)
        loss = nn.functional.cross_entropy(model(x), y)  # dropout draws from the RNG
        optimizer.zero_grad()
        loss.backward()
        if monitors:
            monitors[1].log(step)  # between backward and step: .grad must survive
        optimizer.step()
        losses.append(loss.item())
    return losses, [t.detach().clone() for t in (*model.parameters(), *model.buffers())]


def test_the_monitor_does_not_change_training():
    plain_losses, plain_state = train(False)
    losses, state = train(True)
    assert losses == plain_losses  # bitwise
    assert all(torch.equal(a, b) for a, b in zip(plain_state, state, strict=True))


def test_schedules_and_the_dataset():
    steps = []
    generator = log_schedule()
    while (s := next(generator)) <= 100:
        steps.append(s)
    assert steps[:12] == [0, 1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20] and steps[-1] == 100
    model = SmallCNN(8, width=2, num_classes=3).to(D)
    x = torch.randn(4, 1, 8, 8, dtype=D)
    monitor = FeatureMonitor(model, x, every=[0, 5, 7])
    logged = [step for step in range(20) if monitor.maybe_log(step)]
    assert logged == [0, 5, 7]
    caught_up = FeatureMonitor(model, x, every=10)
    assert [s for s in (0, 3, 14, 15, 21, 39, 40) if caught_up.maybe_log(s)] == [0, 14, 21, 39, 40]
    ds = monitor.to_xarray()
    assert dict(ds.sizes) == {"step": 3, "param_layer": 3, "layer": 2, "pair": 2}
    assert ds.layer.values.tolist() == ["relu[0]", "relu[1]"]  # one module, called twice
    assert float(ds.kernel_distance[0]) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(ds.kernel_velocity[0]) and ds.attrs["rates"] == "unit"
    figure = monitor.plot()
    assert isinstance(figure, matplotlib.figure.Figure) and len(figure.axes) >= 6


def test_bad_input_is_refused():
    model = SmallCNN(8, width=2).to(D)
    x = torch.randn(4, 1, 8, 8, dtype=D)
    with pytest.raises(TypeError, match=r"model must be a torch.nn.Module"):
        FeatureMonitor(None, x)
    with pytest.raises(ValueError, match=r"do not fit the model"):
        FeatureMonitor(model, torch.randn(4, 1, 6, 5, dtype=D))
    with pytest.raises(TypeError, match=r"optimizer must be"):
        FeatureMonitor(model, x, optimizer=0.1)
    with pytest.raises(ValueError, match=r"every must be an int in \[1, 2\*\*63 - 1\]"):
        FeatureMonitor(model, x, every=0)
    with pytest.raises(ValueError, match=r"kernel must be one of"):
        FeatureMonitor(model, x, kernel="full")
    monitor = FeatureMonitor(model, x)
    monitor.log(3)
    with pytest.raises(ValueError, match=r"steps must increase"):
        monitor.log(3)
    with pytest.raises(ValueError, match=r"step must hold steps in \[0, 2\*\*63 - 1\]"):
        monitor.log(-1)


def test_the_units_are_those_of_each_relu_call():
    torch.manual_seed(0)
    model = SmallCNN(8, width=2, num_classes=3).to(D)
    x = torch.randn(4, 1, 8, 8, dtype=D)
    seen = []
    relu = next(m for m in model.modules() if isinstance(m, nn.ReLU))
    handle = relu.register_forward_pre_hook(lambda m, args: seen.append(args[0][0].numel()))
    with torch.no_grad():
        model(x)
    handle.remove()
    monitor = FeatureMonitor(model, x)
    assert monitor.units == {"relu[0]": seen[0], "relu[1]": seen[1]}
    assert list(monitor.units) == monitor.to_xarray().layer.values.tolist()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    record = monitor.log(1)
    expected = [h / u for h, u in zip(record["hamming_distance"], seen, strict=True)]
    assert record["hamming_fraction"] == pytest.approx(expected, rel=1e-15)
    assert max(record["hamming_distance"]) > 0


def test_the_monitor_measures_the_model_as_it_is_now():
    """Tensors swapped by ``load_state_dict(assign=True)`` or a replaced layer are measured; a
    changed shape or parameter is refused. S(0, t) is checked against a fresh kernel."""
    from richlazy.nn import empirical_ntk, kernel_distance

    torch.manual_seed(0)
    x = torch.randn(6, 1, 8, 8, dtype=D)
    model = SmallCNN(8, width=2, num_classes=3).to(D)
    K0 = empirical_ntk(model, x)
    monitor = FeatureMonitor(model, x)
    monitor.log(0)
    other = SmallCNN(8, width=2, num_classes=3).to(D)
    model.load_state_dict(other.state_dict(), assign=True)  # new tensors, same names
    expected = float(kernel_distance(K0, empirical_ntk(other, x)))
    assert expected > 0.01
    assert monitor.log(1)["kernel_distance"] == pytest.approx(expected, rel=1e-10)
    assert monitor.log(2)["parameter_distance"] > 0
    name, layer = next((n, m) for n, m in model.named_children() if isinstance(m, nn.Linear))
    bias = layer.bias is not None
    setattr(model, name, nn.Linear(layer.in_features, layer.out_features, bias=bias).to(D))
    expected = float(kernel_distance(K0, empirical_ntk(model, x)))
    assert monitor.log(3)["kernel_distance"] == pytest.approx(expected, rel=1e-10)
    setattr(model, name, nn.Linear(layer.in_features, layer.out_features + 1, bias=bias).to(D))
    with pytest.raises(ValueError, match=r"model: parameters .* changed since"):
        monitor.log(4)


def test_steps_beyond_int64_and_malformed_schedules_are_refused():
    model = SmallCNN(8, width=2).to(D)
    x = torch.randn(4, 1, 8, 8, dtype=D)
    for every, error, match in [
        (2**63, ValueError, r"every must be an int in \[1, 2\*\*63 - 1\]"),
        (True, TypeError, r"every must be None, an int or an iterable of int steps, got bool"),
        (2.5, TypeError, r"every must be None, an int or an iterable of int steps, got float"),
        ("10", TypeError, r"every must be None, an int or an iterable of int steps, got str"),
        ([1.5], TypeError, r"every must hold int steps, got 1.5"),
        (["a"], TypeError, r"every must hold int steps, got 'a'"),
        ([-1], ValueError, r"every must hold steps in \[0, 2\*\*63 - 1\]"),
        ([2**63], ValueError, r"every must hold steps in \[0, 2\*\*63 - 1\]"),
        ([], ValueError, r"every must list at least one step"),
    ]:
        with pytest.raises(error, match=match):
            FeatureMonitor(model, x, every=every)
    monitor = FeatureMonitor(model, x, every=[np.int64(0), 2**63 - 1])
    assert monitor.maybe_log(0) and not monitor.maybe_log(5)
    with pytest.raises(ValueError, match=r"step must hold steps in \[0, 2\*\*63 - 1\]"):
        monitor.log(2**63)
    with pytest.raises(TypeError, match=r"step must hold int steps, got 1.0"):
        monitor.maybe_log(1.0)
    monitor.log(2**63 - 1)
    assert monitor.to_xarray().step.values.tolist() == [0, 2**63 - 1]
