"""The models of richlazy.nn.models, the package's import rules, and the benchmark function."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import richlazy.nn
from richlazy.nn.benchmark import ntk_benchmark
from richlazy.nn.models import MLP, ResNet18, SmallCNN

pytestmark = pytest.mark.usefixtures("single_thread")
PACKAGE = Path(richlazy.nn.__file__).parent


def test_models_have_the_documented_shapes():
    assert MLP(6, 10, 3, 2)(torch.randn(4, 6)).shape == (4, 2)
    assert [n for n, _ in MLP(6, 10, 3).named_parameters()][::3] == [
        "layers.0.weight",
        "layers.6.weight",
    ]
    assert SmallCNN(8)(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    assert SmallCNN(28, width=4)(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert SmallCNN(8).conv1.kernel_size == (5, 5) and SmallCNN(8).conv1.bias is None
    assert ResNet18(10, width=2)(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in ResNet18(10).parameters()) == 11_173_962  # the usual count
    with pytest.raises(ValueError, match=r"width must be a positive integer"):
        ResNet18(width=0)
    with pytest.raises(ValueError, match=r"image_size must be a multiple of 4"):
        SmallCNN(10)
    with pytest.raises(ValueError, match=r"leak must be in"):
        MLP(3, 4, 1, leak=1.0)


BELOW = ("richlazy._validate", "richlazy.runtime")  # the layers under richlazy.nn it uses


def test_the_package_imports_only_what_it_may():
    """torch, numpy, xarray, matplotlib, the standard library, richlazy._validate, the
    torch-free richlazy.runtime and richlazy.nn itself: no experiments, cli, store or
    benchmarks, no private names."""
    allowed_third_party = {"torch", "numpy", "xarray", "matplotlib"}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                if (node.module or "").startswith("richlazy") and not node.module.startswith(
                    "richlazy.nn"
                ):
                    assert node.module in BELOW, (path, node.module)
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "richlazy":
                    assert name.startswith("richlazy.nn") or name in BELOW, path
                else:
                    assert top in allowed_third_party | set(sys.stdlib_module_names), (path, name)


def test_the_benchmark_script_compares_the_two_methods():
    script = Path(__file__).resolve().parents[1] / "bench" / "ntk_vs_jacobian.py"
    args = ["--n", "3", "--width", "2", "--threads", "1"]
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, *lines = done.stdout.splitlines()
    assert first.startswith("# command: python ")
    (record,) = [json.loads(line) for line in lines]
    assert record["n_points"] == 3 and record["relative_error"] <= 1e-12
    assert record["layerwise_s"] > 0 and record["jacobian_s"] > 0
    assert record["speedup"] > 0 and record["memory_ratio"] > 0
    assert record["jacobian_peak_gib"] >= record["jacobian_rss_before_gib"] > 0
    with pytest.raises(ValueError, match=r"dtype must be"):
        ntk_benchmark((3,), dtype="float16")


def test_import_richlazy_loads_neither_torch_nor_richlazy_nn():
    code = "import sys, richlazy; print('torch' in sys.modules, 'richlazy.nn' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout.split() == ["False", "False"]
