"""Shared figure style: downstream brown, balanced pale green, upstream teal (paper palette).

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot state, no display needed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from richlazy.experiments.claims import number

DELTA_CMAP = LinearSegmentedColormap.from_list(
    "richlazy_delta", ["#964b00", "#a47e1d", "#acaf4d", "#b0df89", "#71c28b", "#39a189", "#008080"]
)
THEORY_STYLE = {"color": "black", "linestyle": (0, (3, 2)), "linewidth": 1.0}


def delta_colors(deltas: Sequence[float]) -> list[tuple[float, float, float, float]]:
    """One color per δ: brown for the most downstream, teal for the most upstream.

    Negative and positive values are spread over their own half of the palette, so δ = 0
    always gets its middle color.
    """
    deltas = np.asarray(deltas, dtype=float)
    finite = deltas[np.isfinite(deltas)]
    low = -np.max(np.abs(finite[finite < 0]), initial=1.0) if np.any(finite < 0) else -1.0
    high = np.max(finite[finite > 0], initial=1.0) if np.any(finite > 0) else 1.0
    positions = []
    for delta in deltas:
        if delta == -np.inf:
            positions.append(0.0)
        elif delta == np.inf:
            positions.append(1.0)
        elif delta < 0:
            positions.append(0.5 - 0.5 * np.sqrt(delta / low))
        else:
            positions.append(0.5 + 0.5 * np.sqrt(delta / high))
    return [DELTA_CMAP(p) for p in positions]


def delta_label(delta: float) -> str:
    """Legend label for a δ value, e.g. 'δ = −2', 'δ = +∞'."""
    if np.isinf(delta):
        return "δ = +∞" if delta > 0 else "δ = −∞"
    return f"δ = {delta:g}".replace("-", "−")


def by_delta(deltas: Sequence[float], values: Sequence[float]) -> str:
    """``values`` formatted for a claim's measured text, each with its δ: "0.12 (δ = −1), …"."""
    return ", ".join(
        f"{number(value)} ({delta_label(delta)})"
        for delta, value in zip(deltas, values, strict=True)
    )


def figure(width: float, height: float) -> Figure:
    """A new figure with constrained layout."""
    return Figure(figsize=(width, height), layout="constrained")


def alpha_colors(alphas: Sequence[float]) -> list[tuple[float, float, float, float]]:
    """One color per α of ``richlazy.nn.unbalance``: upstream (α > 1) teal, α = 1 pale green,
    downstream (α < 1) brown, spread in log α as δ is."""
    return delta_colors(np.log(np.asarray(alphas, dtype=float)))


def alpha_label(alpha: float) -> str:
    """Legend label for an α, e.g. 'α = 16', 'α = 1/4'."""
    alpha = float(alpha)
    if alpha < 1 and abs(1 / alpha - round(1 / alpha)) < 1e-9:
        return f"α = 1/{round(1 / alpha)}"
    return f"α = {alpha:g}"
