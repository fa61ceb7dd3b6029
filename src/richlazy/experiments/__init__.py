"""The registry of reproducible experiments, one module each (docs/architecture.md).

Names map to modules, imported only when used, so listing experiments stays fast.
"""

from __future__ import annotations

from importlib import import_module

from richlazy.experiments._spec import Experiment, RunContext

__all__ = ["Experiment", "RunContext", "get", "names"]

_MODULES: dict[str, str] = {
    "fig1a": "richlazy.experiments.fig1a",
    "fig1b": "richlazy.experiments.fig1b",
    "fig2": "richlazy.experiments.fig2",
    "fig3": "richlazy.experiments.fig3",
    "fig4a": "richlazy.experiments.fig4a",
    "fig4b": "richlazy.experiments.fig4b",
    "fig5": "richlazy.experiments.fig5",
    "fig7": "richlazy.experiments.fig7",
    "fig8": "richlazy.experiments.fig8",
    "wide-linear": "richlazy.experiments.wide_linear",
    "deep-linear": "richlazy.experiments.deep_linear",
}


def names() -> list[str]:
    """All experiment names, in the order the main job runs them."""
    return list(_MODULES)


def get(name: str) -> Experiment:
    """The experiment called ``name``.

    Raises:
        ValueError: no experiment has that name (the message lists the names).
    """
    if name not in _MODULES:
        raise ValueError(f"unknown experiment {name!r}; choose from: {', '.join(_MODULES)}")
    return import_module(_MODULES[name]).EXPERIMENT
