"""The import rules of docs/architecture.md (tools/import_layers.py), and what importing loads."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "import_layers.py"


@pytest.fixture(scope="module")
def layers():
    spec = importlib.util.spec_from_file_location("import_layers", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_keeps_every_import_rule(layers):
    breaches, graph = layers.check()
    assert breaches == []
    assert (
        "richlazy.train.engine" in graph and "richlazy.train.flow" in graph["richlazy.train.engine"]
    )


ARCHITECTURE = TOOL.parents[1] / "docs" / "architecture.md"


def test_the_map_in_the_docs_is_the_tools_layer_table(layers):
    """docs/architecture.md's layer table: the tool's LAYERS row for row (number, name, modules)."""
    rows = re.findall(r"^\| (\d+)\. ([^|]+?) \| ([^|]+?) \|", ARCHITECTURE.read_text(), re.M)

    def as_path(prefix: str) -> str:  # richlazy.x.y -> x/y.py or x/y/ as the table writes it
        parts = prefix.split(".")[1:]
        source = Path(layers.ROOT, "src", *prefix.split("."))
        if not parts:
            return "__init__.py"
        return "/".join(parts) + ("/" if source.is_dir() else ".py")

    documented = {
        int(number): (name, set(re.findall(r"`([^`]+)`", modules)))
        for number, name, modules in rows
    }
    expected = {
        index: (name, {as_path(prefix) for prefix in prefixes})
        for index, (name, prefixes) in enumerate(layers.LAYERS)
    }
    assert documented == expected


def test_cycles_are_found_and_a_dag_has_none(layers):
    assert layers.cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    found = layers.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert found == [["a", "b", "c", "a"]]
    assert layers.cycles({"e": {"f"}, "f": {"e"}}) == [["e", "f", "e"]]


def test_private_names_belong_to_their_package(layers):
    known = {"richlazy._validate", "richlazy.single_neuron", "richlazy.experiments._style"}
    assert layers.private_owner("richlazy._validate", "finite_array", known) == "richlazy"
    assert layers.private_owner("richlazy.single_neuron", "_checked", known) == "richlazy"
    assert layers.private_owner("richlazy.experiments._style", "figure", known) == (
        "richlazy.experiments"
    )
    assert layers.private_owner("richlazy.single_neuron", "ntk", known) is None


def test_layers_place_every_module_and_order_them(layers):
    assert layers.layer_of("richlazy._validate") < layers.layer_of("richlazy.single_neuron")
    assert layers.layer_of("richlazy.nets.two_layer") < layers.layer_of("richlazy.train.engine")
    assert layers.layer_of("richlazy.sweeps.two_layer") < layers.layer_of("richlazy.experiments")
    assert layers.layer_of("richlazy.experiments.runner") < layers.layer_of("richlazy.cli")
    with pytest.raises(ValueError, match="no layer"):
        layers.layer_of("richlazy_other.module")


def loaded_after(code: str) -> set[str]:
    """Which of torch and xarray a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys\nprint(*sorted({{'torch', 'xarray'}} & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return set(done.stdout.split())


def test_importing_the_theory_loads_neither_torch_nor_xarray():
    assert loaded_after("import richlazy") == set()
    assert loaded_after("import richlazy.single_neuron, richlazy.wide_linear") == set()
    assert loaded_after("import richlazy.deep_linear; richlazy.__version__") == set()
    assert loaded_after("import richlazy; richlazy.run_experiment") == {"xarray"}  # on use


@pytest.mark.parametrize("arguments", [["list"], ["--help"], ["--version"], ["run", "--help"]])
def test_listing_and_help_do_not_import_torch(arguments):
    code = (
        "import sys, contextlib, io\n"
        f"sys.argv = ['richlazy', *{arguments!r}]\n"
        "from richlazy import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    cli.main()"
    )
    assert "torch" not in loaded_after(code)
