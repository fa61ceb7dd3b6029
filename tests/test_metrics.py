"""Feature-learning metrics of two-layer batches (docs/theory.md §5): the closed-form NTK against an
empirical NTK from torch.func, and every metric on hand-made cases with known values."""

import numpy as np
import pytest
import torch
from torch.func import jacrev, vmap

from richlazy.metrics import (
    conservation_drift,
    hamming_distance,
    kernel_distance,
    kernel_distances,
    mean_squared_error,
    ntk,
    parameter_distance,
)
from richlazy.metrics import two_layer as metrics_module
from richlazy.nets import TwoLayerNets, per_neuron_delta
from richlazy.nets.two_layer import loss

pytestmark = pytest.mark.usefixtures("single_thread")


def tensor(x, device: str = "cpu") -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64), device=device)


def nets_from(W, a, b=None, leak=0.0, device="cpu") -> TwoLayerNets:
    """A batch from nested lists or arrays already shaped (S, K, m, d), (S, K, m)."""
    b = None if b is None else tensor(b, device)
    return TwoLayerNets(tensor(W, device), tensor(a, device), b, leak=leak)


def random_batch(seed, *, S, K, m, d, n, leak, bias, device="cpu"):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(S, K, m, d)) / np.sqrt(d)
    a = rng.normal(size=(S, K, m)) / np.sqrt(m)
    b = 0.3 * rng.normal(size=(S, K, m)) if bias else None
    X = rng.normal(size=(S, n, d))
    return nets_from(W, a, b, leak, device), tensor(X, device), rng


def small_chunks(monkeypatch):
    """Force the metrics to work one network at a time."""
    monkeypatch.setattr(metrics_module, "CHUNK_ELEMENTS", 1)


# --------------------------------------------------------------------------------------------
# The NTK: closed form against the definition Θ(x, x') = Σ_p η_p ∂_p f(x) ∂_p f(x').


def empirical_ntk(params: dict, leak: float, X: torch.Tensor, rates: dict) -> torch.Tensor:
    """Θ of one network from its per-sample Jacobian (torch.func), X (n, d) -> (n, n)."""

    def f(p, x):
        pre = p["W"] @ x + p.get("b", 0.0)
        return (p["a"] * torch.where(pre >= 0, pre, leak * pre)).sum()

    jacobian = vmap(jacrev(f), in_dims=(None, 0))(params, X)  # name -> (n, *shape)
    n = X.shape[0]
    return sum(rates[k] * J.reshape(n, -1) @ J.reshape(n, -1).T for k, J in jacobian.items())


@pytest.mark.parametrize(("leak", "bias"), [(0.0, False), (0.0, True), (0.2, True), (1.0, True)])
def test_ntk_matches_empirical_ntk(leak, bias, device):
    S, K, n = 2, 3, 7
    nets, X, rng = random_batch(20, S=S, K=K, m=6, d=4, n=n, leak=leak, bias=bias, device=device)
    eta_a = tensor(rng.uniform(0.2, 3.0, size=(S, K)), device)
    eta_w = tensor(rng.uniform(0.2, 3.0, size=(S, K)), device)
    closed = ntk(nets, X, eta_a, eta_w)
    assert closed.shape == (S, K, n, n)
    for s in range(S):
        for k in range(K):
            params = {"W": nets.W[s, k], "a": nets.a[s, k]}
            if bias:
                params["b"] = nets.b[s, k]
            rates = {"W": eta_w[s, k], "a": eta_a[s, k], "b": eta_w[s, k]}
            expected = empirical_ntk(params, leak, X[s], rates)
            assert torch.allclose(closed[s, k], expected, rtol=1e-12, atol=1e-12)
    # the two layers really do enter with their own rates: changing one changes the kernel
    other = ntk(nets, X, eta_a, 2 * eta_w)
    assert float((other - closed).abs().max()) > 1e-3


def test_ntk_scales_with_rates_layer_by_layer():
    nets, X, _ = random_batch(21, S=1, K=2, m=5, d=3, n=6, leak=0.1, bias=True)
    ones, zeros = torch.ones(1, 2, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64)
    readout, first = ntk(nets, X, ones, zeros), ntk(nets, X, zeros, ones)
    total = ntk(nets, X, 3 * ones, 0.5 * ones)
    assert torch.allclose(total, 3 * readout + 0.5 * first, rtol=1e-13, atol=1e-13)
    # readout part: η_a ΦΦᵀ with Φ = σ(XWᵀ + b)
    pre = X[0] @ nets.W[0, 1].T + nets.b[0, 1]
    features = torch.maximum(pre, 0.1 * pre)
    assert torch.allclose(readout[0, 1], features @ features.T, rtol=1e-13, atol=1e-13)


# --------------------------------------------------------------------------------------------
# Kernel distance S = 1 − ⟨K0, Kt⟩_F / (‖K0‖_F ‖Kt‖_F).


def test_kernel_distance_hand_made_cases():
    nets, X, rng = random_batch(22, S=2, K=3, m=5, d=3, n=6, leak=0.0, bias=True)
    eta_a = tensor(rng.uniform(0.5, 2.0, size=(2, 3)))
    eta_w = tensor(rng.uniform(0.5, 2.0, size=(2, 3)))
    # identical networks: 0
    same = kernel_distance(nets, nets.clone(), X, eta_a, eta_w)
    assert same.shape == (2, 3)
    assert float(same.abs().max()) <= 1e-14
    # (W, a, b) -> c(W, a, b), c > 0: ReLU is positively homogeneous, so K -> c²K: still 0
    scaled = nets.with_tensors(tuple(3.0 * t for t in nets.tensors))
    assert torch.allclose(ntk(scaled, X, eta_a, eta_w), 9 * ntk(nets, X, eta_a, eta_w))
    assert float(kernel_distance(nets, scaled, X, eta_a, eta_w).abs().max()) <= 1e-14
    # A neuron that sees only x1 against one that sees only x2 (X = I): K0 = c·e1e1ᵀ, Kt =
    # c·e2e2ᵀ, orthogonal, so S = 1 exactly.
    X2 = tensor(np.eye(2)[None])
    one = tensor([[1.0]])
    before = nets_from([[[[1.0, -1.0]]]], [[[1.0]]])
    after = nets_from([[[[-1.0, 1.0]]]], [[[1.0]]])
    assert torch.allclose(ntk(before, X2, 2 * one, one)[0, 0], tensor([[3.0, 0.0], [0.0, 0.0]]))
    assert float(kernel_distance(before, after, X2, 2 * one, one)[0, 0]) == 1.0
    # a hand-computed intermediate case: K0 = diag(1, 0)·c, Kt = c·[[1, 0], [0, 1]]: S = 1 − 1/√2
    both = nets_from([[[[1.0, -1.0], [-1.0, 1.0]]]], [[[1.0, 1.0]]])
    expected = 1 - 1 / np.sqrt(2)
    assert float(kernel_distance(before, both, X2, 2 * one, one)[0, 0]) == pytest.approx(expected)


def test_kernel_distance_matches_its_definition_in_any_chunking(monkeypatch, device):
    initial, X, rng = random_batch(23, S=2, K=4, m=5, d=3, n=6, leak=0.1, bias=False, device=device)
    current = initial.with_tensors(
        tuple(t + 0.3 * tensor(rng.normal(size=t.shape), device) for t in initial.tensors)
    )
    eta_a = tensor(rng.uniform(0.5, 2.0, size=(2, 4)), device)
    eta_w = tensor(rng.uniform(0.5, 2.0, size=(2, 4)), device)
    K0, Kt = ntk(initial, X, eta_a, eta_w), ntk(current, X, eta_a, eta_w)
    expected = 1 - (K0 * Kt).sum((-1, -2)) / (
        torch.linalg.matrix_norm(K0) * torch.linalg.matrix_norm(Kt)
    )
    whole = kernel_distance(initial, current, X, eta_a, eta_w)
    assert torch.allclose(whole, expected, rtol=1e-13, atol=1e-14)
    assert float(whole.min()) > 1e-3 and float(whole.max()) <= 1  # PSD kernels: S in [0, 1]
    small_chunks(monkeypatch)
    assert torch.allclose(kernel_distance(initial, current, X, eta_a, eta_w), whole)


# --------------------------------------------------------------------------------------------
# Hamming distance H(t) = Σ_k mean_i 1[c_ik(t) ≠ c_ik(0)], c_ik = 1[w_kᵀx_i + b_k > 0].

CORNERS = tensor([[[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]])  # (1, 4, 2)


def test_hamming_distance_counts_flipped_patterns():
    # Three neurons; on the four corners neuron 0 sees x1 > 0 ([1, 1, 0, 0]).
    W0 = [[[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]]
    a0 = [[[1.0, -2.0, 0.5]]]
    initial = nets_from(W0, a0)
    # neuron 0 turns to x2 > 0 ([1, 0, 1, 0]): 2 of 4 points flip -> 1/2
    turned = nets_from([[[[0.0, 1.0], [0.0, 1.0], [1.0, 1.0]]]], a0)
    assert float(hamming_distance(initial, turned, CORNERS)[0, 0]) == 0.5
    # a neuron that changes scale, not direction, and any change of a: no flips
    rescaled = nets_from([[[[5.0, 0.0], [0.0, 0.1], [1.0, 1.0]]]], [[[-1.0, 3.0, 0.0]]])
    assert float(hamming_distance(initial, rescaled, CORNERS)[0, 0]) == 0.0
    # neuron 0 negated (4 of 4 flip), neuron 2 too: on (1, -1), (-1, 1) its pre-activation is
    # exactly 0, "off" before and after, so only 2 of 4 flip: H = 1 + 1/2
    negated = nets_from([[[[-1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]]], a0)
    assert float(hamming_distance(initial, negated, CORNERS)[0, 0]) == 1.5
    # and the sum over neurons is Σ_k mean_i, written out
    c0 = (torch.einsum("nd,md->nm", CORNERS[0], initial.W[0, 0]) > 0).double()
    ct = (torch.einsum("nd,md->nm", CORNERS[0], negated.W[0, 0]) > 0).double()
    assert float((c0 != ct).double().mean(0).sum()) == 1.5


def test_hamming_distance_with_bias_batches_and_nan(monkeypatch):
    # S = 2 datasets, K = 2 networks, one neuron each, bias counted in the pattern.
    W = [[[[1.0, 0.0]], [[1.0, 0.0]]], [[[0.0, 1.0]], [[0.0, 1.0]]]]
    a = [[[1.0], [1.0]], [[1.0], [1.0]]]
    b0 = [[[0.0], [0.0]], [[0.0], [0.0]]]
    # (0, 0): b -> 2 turns every point on, so the two with x1 = −1 flip; (0, 1): b -> −0.5,
    # no flip; (1, 0): b -> −2 turns the two with x2 = 1 off; (1, 1): NaN parameters -> NaN.
    bt = [[[2.0], [-0.5]], [[-2.0], [np.nan]]]
    X = torch.cat([CORNERS, CORNERS[:, [3, 2, 1, 0]]])  # (2, 4, 2)
    initial, current = nets_from(W, a, b0), nets_from(W, a, bt)
    expected = torch.tensor([[0.5, 0.0], [0.5, np.nan]], dtype=torch.float64)
    got = hamming_distance(initial, current, X)
    assert torch.allclose(got, expected, equal_nan=True, rtol=0, atol=0)
    small_chunks(monkeypatch)
    assert torch.allclose(hamming_distance(initial, current, X), expected, equal_nan=True)


def test_hamming_distance_random_batch_in_units_of_neurons(device):
    initial, X, rng = random_batch(24, S=2, K=3, m=7, d=3, n=50, leak=0.0, bias=True, device=device)
    flipped = initial.with_tensors((-initial.W, initial.a, -initial.b))  # every pattern flips
    np.testing.assert_array_equal(hamming_distance(initial, flipped, X).cpu().numpy(), 7.0)
    moved = initial.with_tensors(
        tuple(t + 0.2 * tensor(rng.normal(size=t.shape), device) for t in initial.tensors)
    )
    pre0 = torch.einsum("snd,skmd->sknm", X, initial.W) + initial.b[:, :, None]
    pret = torch.einsum("snd,skmd->sknm", X, moved.W) + moved.b[:, :, None]
    expected = ((pre0 > 0) != (pret > 0)).double().mean(2).sum(-1)
    got = hamming_distance(initial, moved, X)
    assert torch.equal(got, expected)
    assert float(got.min()) > 0


# --------------------------------------------------------------------------------------------
# Parameter distance, conservation drift, mean squared error.


def test_parameter_distance_hand_made():
    zeros = np.zeros((1, 2, 2, 3))
    initial = nets_from(zeros, zeros[..., 0], zeros[..., 0])
    W, a, b = zeros.copy(), zeros[..., 0].copy(), zeros[..., 0].copy()
    W[0, 0, 1, 2], a[0, 0, 0] = 3.0, -4.0  # network 0: ‖(3, −4)‖ = 5
    b[0, 1, 1] = 12.0
    W[0, 1, 0, 0] = 5.0  # network 1: ‖(12, 5)‖ = 13
    current = nets_from(W, a, b)
    np.testing.assert_array_equal(parameter_distance(initial, current).numpy(), [[5.0, 13.0]])
    np.testing.assert_array_equal(parameter_distance(current, current).numpy(), [[0.0, 0.0]])
    # without bias: only W and a count
    plain = parameter_distance(nets_from(zeros, zeros[..., 0]), nets_from(W, a))
    np.testing.assert_array_equal(plain.numpy(), [[5.0, 5.0]])


def test_conservation_drift_hand_made():
    # one network, two neurons, d = 1: δ_k = η_w a_k² − η_a (w_k² + b_k²) with η_a = 2, η_w = 3
    eta_a, eta_w = tensor([[2.0]]), tensor([[3.0]])
    initial = nets_from([[[[1.0], [2.0]]]], [[[1.0, 1.0]]], [[[0.5, 0.0]]])
    np.testing.assert_allclose(
        per_neuron_delta(initial, eta_a, eta_w).numpy(), [[[0.5, -5.0]]], rtol=1e-15
    )
    current = nets_from([[[[1.0], [2.0]]]], [[[2.0, 1.0]]], [[[0.5, 1.0]]])  # δ = (9.5, −7)
    assert float(conservation_drift(initial, current, eta_a, eta_w)[0, 0]) == pytest.approx(9.0)
    # a move along the conserved manifold: a² and ‖w‖² + b² grow by η_a·c and η_w·c
    along = nets_from([[[[1.0], [2.0]]]], [[[np.sqrt(1 + 2 * 0.7), 1.0]]], [[[np.sqrt(2.35), 0.0]]])
    assert float(conservation_drift(initial, along, eta_a, eta_w)[0, 0]) <= 1e-14
    assert float(conservation_drift(initial, initial, eta_a, eta_w)[0, 0]) == 0.0


def test_conservation_drift_is_per_network():
    initial, _, rng = random_batch(25, S=2, K=3, m=4, d=2, n=1, leak=0.0, bias=False)
    eta_a = tensor(rng.uniform(0.5, 2.0, size=(2, 3)))
    eta_w = tensor(rng.uniform(0.5, 2.0, size=(2, 3)))
    a = initial.a.clone()
    a[1, 2, 3] += 0.5
    current = initial.with_tensors((initial.W, a))
    expected = torch.zeros(2, 3, dtype=torch.float64)
    expected[1, 2] = eta_w[1, 2] * abs(a[1, 2, 3] ** 2 - initial.a[1, 2, 3] ** 2)
    assert torch.allclose(conservation_drift(initial, current, eta_a, eta_w), expected)


@pytest.mark.parametrize(
    ("leak", "expected"),
    [
        (1.0, (9 + 36 + 81 + 25) / 4),  # f = (3, 6, 9, −3)
        (0.0, (9 + 36 + 81 + 4) / 4),  # f = (3, 6, 9, 0)
        (0.5, (9 + 36 + 81 + 12.25) / 4),  # f = (3, 6, 9, −1.5)
    ],
)
def test_mean_squared_error_hand_made(leak, expected):
    # f(x) = 3σ(x1 + 2x2) against y = (0, 0, 0, 2); the last pre-activation is −1.
    nets = nets_from([[[[1.0, 2.0]]]], [[[3.0]]], leak=leak)
    X = tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0]]])
    y = tensor([[0.0, 0.0, 0.0, 2.0]])
    assert float(mean_squared_error(nets, X, y)[0, 0]) == pytest.approx(expected, rel=1e-15)


def test_mean_squared_error_is_twice_the_loss_over_n(monkeypatch):
    nets, X, rng = random_batch(26, S=2, K=3, m=4, d=3, n=9, leak=0.1, bias=True)
    y = tensor(rng.normal(size=(2, 9)))
    error = mean_squared_error(nets, X, y)
    assert torch.allclose(error, 2 * loss(nets, X, y) / 9, rtol=1e-14)
    small_chunks(monkeypatch)
    assert torch.allclose(mean_squared_error(nets, X, y), error, rtol=1e-14)


def test_metrics_take_numbers_or_per_network_rates():
    nets = random_batch(5, S=2, K=3, m=4, d=3, n=6, leak=0.0, bias=False)[0]
    X = torch.as_tensor(np.random.default_rng(6).normal(size=(2, 6, 3)))
    per_network = torch.full((2, 3), 2.0, dtype=torch.float64)
    torch.testing.assert_close(ntk(nets, X, 2.0, 2.0), ntk(nets, X, per_network, per_network))
    torch.testing.assert_close(ntk(nets, X), ntk(nets, X, np.ones((2, 3)), np.ones(3)))
    with pytest.raises(ValueError, match="eta_a must be a number or broadcast"):
        ntk(nets, X, np.ones(4))
    with pytest.raises(ValueError, match="eta_w must be a number or broadcast"):
        kernel_distance(nets, nets, X, 1.0, np.ones((3, 2)))


def test_kernel_distances_of_snapshots_equal_one_at_a_time(monkeypatch):
    initial = random_batch(7, S=2, K=3, m=4, d=3, n=6, leak=0.1, bias=True)[0]
    X = random_batch(8, S=2, K=3, m=4, d=3, n=6, leak=0.1, bias=True)[1]
    snapshots = [
        random_batch(seed, S=2, K=3, m=4, d=3, n=6, leak=0.1, bias=True)[0] for seed in (9, 10)
    ]
    expected = torch.stack([kernel_distance(initial, s, X, 0.5, 2.0) for s in snapshots], -1)
    small_chunks(monkeypatch)
    torch.testing.assert_close(kernel_distances(initial, snapshots, X, 0.5, 2.0), expected)


@pytest.mark.parametrize(("leak", "bias"), [(0.0, False), (0.2, True)])
def test_cross_ntk_is_the_off_diagonal_block_of_the_joint_kernel(leak, bias):
    nets, X, rng = random_batch(11, S=2, K=3, m=5, d=3, n=4, leak=leak, bias=bias)
    X2 = tensor(rng.normal(size=(2, 6, 3)))
    joint = ntk(nets, torch.cat([X, X2], 1), 0.7, 1.9)  # (S, K, 10, 10), checked vs torch.func
    torch.testing.assert_close(ntk(nets, X, 0.7, 1.9, X2=X2), joint[..., :4, 4:])
