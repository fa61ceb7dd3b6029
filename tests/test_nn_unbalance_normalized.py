"""unbalance refuses α on both ends when a normalization layer follows the first layer."""

import pytest
import torch
from torch import nn

from richlazy.nn import unbalance

pytestmark = pytest.mark.usefixtures("single_thread")
D = torch.float64


def conv_bn(norm=nn.BatchNorm2d):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, bias=False), norm(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4)
    ).to(D)


def test_the_bug_this_guards_against_and_the_refusal():
    x = torch.randn(5, 3, 8, 8, dtype=D)
    model = conv_bn()
    model.eval()
    before = model(x)
    with torch.no_grad():  # what α = 4 on both ends did: BN undoes conv ÷ 4, Linear × 4 stays
        model[0].weight.div_(4)
        model[1].running_var.div_(16)  # BN's statistics of the divided conv (ε aside)
        model[4].weight.mul_(4)
    ratio = (model(x) - model[4].bias) / (before - model[4].bias)
    torch.testing.assert_close(ratio, torch.full_like(ratio, 4.0), rtol=1e-4, atol=0)
    with pytest.raises(ValueError, match=r"'0' is followed by BatchNorm2d '1'.*rescale_last=False"):
        unbalance(conv_bn(), 4.0)


@pytest.mark.parametrize("norm", [nn.BatchNorm2d, lambda c: nn.GroupNorm(2, c)])
def test_the_first_layer_only_keeps_the_function_and_divides_the_first_layer(norm):
    model = conv_bn(norm)
    model.train()  # batch statistics: BN(z/α) is BN(z) with α²ε for ε
    x = torch.randn(5, 3, 8, 8, dtype=D)
    before = model(x).detach()
    weight = model[0].weight.detach().clone()
    geometry = unbalance(model, 4.0, rescale_last=False)
    assert geometry.first == "0" and geometry.last is None
    torch.testing.assert_close(model[0].weight, weight / 4)
    # only ε changes: |Δ| ≲ ε(α² − 1)/(2σ²) relative, σ² ≈ 0.1 here: < 1e-3
    torch.testing.assert_close(model(x), before, rtol=1e-3, atol=1e-3)


def test_no_normalization_after_the_first_layer_is_not_refused():
    model = nn.Sequential(nn.Linear(4, 8, bias=False), nn.ReLU(), nn.Linear(8, 8, bias=False),
                          nn.LayerNorm(8), nn.Linear(8, 1, bias=False))  # fmt: skip
    geometry = unbalance(model, 4.0)  # LayerNorm after the second layer: α passes the first
    assert (geometry.first, geometry.last) == ("0", "4")
    named = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 1))
    assert unbalance(named, 2.0, first="0", last="2").last == "2"  # named layers: the user's call
