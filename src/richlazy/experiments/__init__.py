"""The registry of reproducible experiments, one module each (docs/architecture.md).

The registry knows what each experiment reproduces; its presets are declared once, in its
module's ``PRESETS``. Listing (``richlazy list``) reads their names from the module's source
(:func:`preset_names`), so it imports no experiment module and no torch; a module is imported
only by :func:`get`, when its experiment is configured, run or redrawn.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path

from richlazy.experiments.spec import Experiment

__all__ = ["SMOKE", "Experiment", "Listing", "describe", "get", "names", "preset_names"]


@dataclass(frozen=True)
class Listing:
    """What ``richlazy list`` shows of an experiment, known without importing it.

    Attributes:
        module: the module defining ``EXPERIMENT``.
        paper: what it reproduces, e.g. "Figure 3".
        summary: one line on what it shows.
    """

    module: str
    paper: str
    summary: str


_PACKAGE = "richlazy.experiments"
_REGISTRY: dict[str, Listing] = {
    "fig1a": Listing(
        f"{_PACKAGE}.two_layer.fig1a",
        "Figure 1a",
        "two-layer ReLU in d = 2: neuron trajectories, lazy vs rich vs δ",
    ),
    "fig1b": Listing(
        f"{_PACKAGE}.two_layer.fig1b",
        "Figure 1b",
        "two-layer ReLU teacher–student: test loss and kernel distance over (τ, δ)",
    ),
    "fig10": Listing(
        f"{_PACKAGE}.two_layer.fig10",
        "Figure 10 (App. D.1)",
        "Figure 1b's grid to 1e6 steps: kernel, Hamming, parameter distance, losses",
    ),
    "fig2": Listing(
        f"{_PACKAGE}.single_neuron.fig2",
        "Figure 2",
        "single neuron: conserved surfaces, trajectories and minima",
    ),
    "fig3": Listing(
        f"{_PACKAGE}.single_neuron.fig3",
        "Figure 3",
        "single neuron: μ, φ and kernel distance over time vs δ",
    ),
    "fig4a": Listing(
        f"{_PACKAGE}.single_neuron.fig4a",
        "Figure 4a",
        "single neuron: function-space trajectories over loss contours",
    ),
    "fig4b": Listing(
        f"{_PACKAGE}.single_neuron.fig4b",
        "Figure 4b",
        "single neuron: implicit bias at interpolation on low-rank data",
    ),
    "fig5": Listing(
        f"{_PACKAGE}.two_layer.fig5",
        "Figure 5",
        "two-layer ReLU on XOR: surfaces over training; Hamming vs parameter distance",
    ),
    "fig7": Listing(
        f"{_PACKAGE}.single_neuron.fig7",
        "Figure 7",
        "single neuron: basins of attraction and the separating surface",
    ),
    "fig8": Listing(
        f"{_PACKAGE}.single_neuron.fig8",
        "Figure 8",
        "single neuron: closed form against simulation for a, w, ν",
    ),
    "wide-linear": Listing(
        f"{_PACKAGE}.linear.wide_linear",
        "Theorem 4.2 / §4 (wide linear)",
        "wide linear net: function-space flow vs (W, A), mode flow, ℓ1 → ℓ2 implicit bias",
    ),
    "deep-linear": Listing(
        f"{_PACKAGE}.linear.deep_linear",
        "§4 (deep linear)",
        "deep linear net: which layer moves first (up/balanced/downstream); balanced flow",
    ),
    "fig6a": Listing(
        f"{_PACKAGE}.section5.fig6a",
        "Figure 6a (§5)",
        "deep nets on digits (CNN, MLP) / CIFAR-10 ResNet-18: kernel distance vs α",
    ),
    "fig6b": Listing(
        f"{_PACKAGE}.section5.fig6b",
        "Figure 6b (§5)",
        "CNN on digits / MNIST: first-layer filters and their smoothness vs α",
    ),
    "fig6c": Listing(
        f"{_PACKAGE}.section5.fig6c",
        "Figure 6c (§5)",
        "mean-field MLP on the Random Hierarchy Model: test error vs P/P_max and P*(α)",
    ),
    "fig6d": Listing(
        f"{_PACKAGE}.section5.fig6d",
        "Figure 6d (§5)",
        "one-layer transformer on x + y mod 97: steps to grok over the (τ, α) grid",
    ),
    "drift": Listing(
        f"{_PACKAGE}.two_layer.drift",
        "beyond the paper (§4 open question)",
        "Figure-1b student under SGD: drift of δ_k vs lr and batch size; regime vs flow",
    ),
}


def names() -> list[str]:
    """All experiment names, in the order the main job runs them."""
    return list(_REGISTRY)


def describe(name: str) -> Listing:
    """What experiment ``name`` reproduces, without importing it.

    Raises:
        ValueError: no experiment has that name (the message lists the names).
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; choose from: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def get(name: str) -> Experiment:
    """The experiment called ``name`` (its module is imported now).

    Raises:
        ValueError: no experiment has that name (the message lists the names).
    """
    return import_module(describe(name).module).EXPERIMENT


#: The preset every experiment has for the tests: seconds, listed last.
SMOKE = "smoke"


def preset_names(name: str) -> tuple[str, ...]:
    """The preset names of experiment ``name``, without importing its module.

    They are the keys of the dict literal assigned to ``PRESETS`` in the module's source (the
    one place presets are declared), read with :mod:`ast`; a test keeps them equal to
    ``get(name).presets``.

    Raises:
        ValueError: no experiment has that name, or its module declares no ``PRESETS`` dict
            with literal keys.
    """
    module = describe(name).module
    source = Path(find_spec(module).origin).read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        named = any(isinstance(t, ast.Name) and t.id == "PRESETS" for t in targets)
        if named and isinstance(node.value, ast.Dict):
            keys = node.value.keys
            if all(isinstance(key, ast.Constant) and isinstance(key.value, str) for key in keys):
                return tuple(key.value for key in keys)
    raise ValueError(f"{module} declares no PRESETS = {{name: config, ...}} with literal names")
