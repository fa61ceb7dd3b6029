"""The networks of the paper's Figure 6: LeNet-5 (6a) and the DAWNBench ResNet with a 15×15 first
layer (6b): shapes, parameter counts, and what the α knob does to their function at
initialization (docs/theory.md §6.1, §6.4; docs/section5-vision.md)."""

import copy

import pytest
import torch

from richlazy.nn import unbalance
from richlazy.nn.models import DawnResNet, LeNet5

pytestmark = pytest.mark.usefixtures("single_thread")


def _images(n, channels, side, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, channels, side, side, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize(("side", "channels"), [(28, 1), (32, 3)])
def test_lenet5_shapes_and_size(side, channels):
    torch.manual_seed(0)
    model = LeNet5(side, channels)
    x = _images(5, channels, side).float()
    maps = model.pool(model.relu(model.conv1(x)))
    assert maps.shape == (5, 6, 14, 14)
    assert model.pool(model.relu(model.conv2(maps))).shape == (5, 16, 5, 5)
    assert model(x).shape == (5, 10)
    # conv 5·5·C·6 + 6, conv 5·5·6·16 + 16, fc 400·120 + 120, 120·84 + 84, 84·10 + 10
    expected = 25 * channels * 6 + 6 + 25 * 6 * 16 + 16 + 400 * 120 + 120 + 120 * 84 + 84 + 850
    assert sum(p.numel() for p in model.parameters()) == expected  # 61,706 for MNIST
    assert sum(p.numel() for p in LeNet5(bias=False).parameters()) == 61706 - 236


@pytest.mark.parametrize("alpha", [0.1, 10.0])
def test_lenet5_keeps_its_function_under_the_knob_when_the_inner_biases_follow(alpha):
    torch.manual_seed(1)
    model = LeNet5().double()
    x = _images(16, 1, 28)
    before = model(x).detach()
    plain = copy.deepcopy(model)
    geometry = unbalance(model, alpha, scales=model.inner_bias_scales(alpha))
    assert (geometry.first, geometry.last) == ("conv1", "fc3")
    expected = {"conv1.weight": 1 / alpha, "conv1.bias": 1 / alpha, "conv2.bias": 1 / alpha,
                "fc1.bias": 1 / alpha, "fc2.bias": 1 / alpha, "fc3.weight": alpha}  # fmt: skip
    for name, factor in geometry.scales.items():
        assert factor == pytest.approx(expected.get(name, 1.0), rel=1e-15), name
    after = model(x).detach()
    scale = before.abs().max()
    assert (after - before).abs().max() <= 1e-12 * scale  # float64 rounding only
    # without the inner biases the function does change: the test above can fail
    unbalance(plain, alpha)
    assert (plain(x).detach() - before).abs().max() > 1e-3 * scale


def test_bias_free_lenet5_needs_no_extra_scales_and_bad_input_is_refused():
    torch.manual_seed(2)
    model = LeNet5(bias=False).double()
    assert model.inner_bias_scales(3.0) == {}
    x = _images(8, 1, 28)
    before = model(x).detach()
    unbalance(model, 3.0)
    assert (model(x).detach() - before).abs().max() <= 1e-12 * before.abs().max()
    with pytest.raises(ValueError, match="image_size must be 28 or 32"):
        LeNet5(30)
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        LeNet5(28, 0)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        model.inner_bias_scales(0.0)
    with pytest.raises(ValueError, match=r"x must be images \(N, C, 28, 28\)"):
        model(_images(2, 1, 32))


@pytest.mark.parametrize(("side", "channels", "last"), [(28, 1, 3), (32, 3, 4)])
def test_dawn_resnet_shapes(side, channels, last):
    torch.manual_seed(0)
    model = DawnResNet(in_channels=channels, width=8)
    assert model.prep.conv.weight.shape == (8, channels, 15, 15)
    assert model.prep.conv.padding == (7, 7) and model.prep.conv.bias is None
    others = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][1:]
    assert len(others) == 7 and all(m.kernel_size == (3, 3) for m in others)
    x = _images(4, channels, side).float()
    shapes = {}
    for name in ("prep", "layer1", "layer2", "layer3"):
        getattr(model, name).register_forward_hook(
            lambda module, inputs, out, name=name: shapes.__setitem__(name, tuple(out.shape))
        )
    assert model(x).shape == (4, 10)
    assert shapes == {
        "prep": (4, 8, side, side),
        "layer1": (4, 16, side // 2, side // 2),
        "layer2": (4, 32, side // 4, side // 4),
        "layer3": (4, 64, last, last),
    }


def test_dawn_resnet_at_full_width_is_the_benchmark_network():
    # the benchmark's 3×3 network: each conv k·k·c_in·c_out, each BatchNorm 2·c_out, the head
    # 512·10 without bias
    convs = [(3, 64), (64, 128), (128, 128), (128, 128), (128, 256), (256, 512), (512, 512),
             (512, 512)]  # fmt: skip
    expected = sum(9 * a * b + 2 * b for a, b in convs) + 512 * 10
    assert expected == 6_573_120
    model = DawnResNet(first_kernel=3)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert sum(p.numel() for p in DawnResNet().parameters()) == expected + (225 - 9) * 3 * 64
    assert model.output_scale == 0.125 and model.linear.bias is None


def _dawn_pair(alpha, seed=0):
    """A float64 width-8 DawnResNet, and a copy whose first convolution is ÷ α by the knob."""
    torch.manual_seed(seed)
    model = DawnResNet(in_channels=1, width=8).double().train()
    scaled = copy.deepcopy(model)
    geometry = unbalance(scaled, alpha, rescale_last=False)
    return model, scaled, geometry


@pytest.mark.parametrize("alpha", [0.1, 10.0])
def test_dawn_knob_changes_the_function_in_training_mode_only_through_batchnorm_eps(alpha):
    model, scaled, geometry = _dawn_pair(alpha)
    assert (geometry.first, geometry.last) == ("prep.conv", None)
    assert {n for n, f in geometry.scales.items() if f != 1.0} == {"prep.conv.weight"}
    x = _images(32, 1, 28, seed=1)
    eps = model.prep.bn.eps
    assert eps == 1e-5
    # BN(z/α) with ε is BN(z) with α²ε: exact, so equal up to float64 rounding
    reference = copy.deepcopy(model)
    reference.prep.bn.eps = alpha**2 * eps
    out, ref = scaled(x).detach(), reference(x).detach()
    assert (out - ref).abs().max() <= 1e-12 * ref.abs().max()
    # so with ε/α² in its first BatchNorm the knob leaves the function exactly as it was
    # (torch refuses ε = 0 in training mode)
    scaled.prep.bn.eps = eps / alpha**2
    before = model(x).detach()
    assert (scaled(x).detach() - before).abs().max() <= 1e-12 * before.abs().max()


@pytest.mark.parametrize("alpha", [0.1, 10.0])
def test_dawn_knob_moves_the_first_batchnorm_by_its_derived_factor(alpha):
    """Per channel c, BN's output (β = 0 at initialization) is multiplied by
    r_c = √((σ_c² + ε)/(σ_c² + α²ε)), σ_c² the batch variance of the unscaled convolution's
    output; so |r_c − 1| ≤ |α² − 1| ε / (2 σ_c²): about 2e-3 for α = 10, ε = 1e-5 and the
    σ_c² ≈ 0.23-0.4 of this initialization (1/3 on average: fan-in 225, weight variance
    1/(3·225), unit inputs). The later BatchNorms remove any common part of the r_c, so the
    logits move by less than max|r_c − 1|, relative (measured: 0.02-0.05 of it, 4 seeds)."""
    model, scaled, _ = _dawn_pair(alpha)
    x = _images(32, 1, 28, seed=1)
    z = model.prep.conv(x).detach()  # (32, 8, 28, 28)
    variance = z.var(dim=(0, 2, 3), unbiased=False)  # (8,) what BatchNorm divides by
    eps = model.prep.bn.eps
    ratio = torch.sqrt((variance + eps) / (variance + alpha**2 * eps))  # (8,)
    first = model.prep.bn(z).detach()
    moved = scaled.prep.bn(scaled.prep.conv(x)).detach()
    torch.testing.assert_close(moved, first * ratio[:, None, None], rtol=1e-12, atol=1e-12)
    bound = abs(alpha**2 - 1) * eps / (2 * variance.min())
    assert (ratio - 1).abs().max() <= bound
    before, after = model(x).detach(), scaled(x).detach()
    change = (after - before).norm() / before.norm()
    assert change <= (ratio - 1).abs().max()
    if alpha > 1:
        assert change > 1e-6  # the ε effect is there, not hidden by the tolerance


def test_dawn_resnet_refuses_bad_arguments():
    with pytest.raises(ValueError, match="first_kernel must be an odd positive integer"):
        DawnResNet(first_kernel=14)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        DawnResNet(width=0)
    with pytest.raises(ValueError, match="output_scale must be finite and > 0"):
        DawnResNet(output_scale=0.0)
    with pytest.raises(ValueError, match=r"x must be images \(N, 3, H, W\) with H, W ≥ 8"):
        DawnResNet(width=2)(torch.zeros(1, 1, 28, 28))
