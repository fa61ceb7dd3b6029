"""Shared by the single-neuron figures: paired closed-form and simulated trajectories."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from richlazy import _validate as check
from richlazy import single_neuron as sn
from richlazy._validate import Checked, option
from richlazy.experiments.claims import Threshold, agrees


@dataclass(frozen=True)
class DeltaSweep(Checked):
    """Settings of a figure that follows one initialization β0 for several δ on whitened data
    (docs/theory.md §2.1; defaults: the paper's β* = (0, 1), β0 = (−1, 0), a0 > 0)."""

    # finite, each once: the figures select trajectories by δ
    deltas: tuple[float, ...] = option((-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0), check.tuple_of())
    beta_star: tuple[float, float] = (0.0, 1.0)
    beta0: tuple[float, float] = (-1.0, 0.0)
    t_max: float = option(20.0, check.positive_float)
    time_points: int = option(401, check.whole(2))
    # reference integrator: well below the 1e-8 agreement we check
    rtol: float = option(1e-12, check.interval(0, 1e-3))

    def __post_init__(self):
        super().__post_init__()
        # closed form and simulation of (a, w1, w2), float64, at every (δ, t)
        check.fits_memory("time_points, deltas", 8 * 6 * len(self.deltas) * self.time_points)

    def trajectories(self) -> tuple[np.ndarray, sn.Trajectory, sn.Trajectory]:
        """The times (T,) and, for every δ, the closed form and the simulation over them."""
        t = np.linspace(0.0, self.t_max, self.time_points)
        closed, simulated = paired_trajectories(
            np.array(self.beta0), np.array(self.deltas), np.array(self.beta_star), t, rtol=self.rtol
        )
        return t, closed, simulated

    def coords(self, t: np.ndarray, components: list[str]) -> dict:
        """Dataset coordinates delta, t and component."""
        return {"delta": list(self.deltas), "t": t, "component": components}

    def results(self) -> xr.Dataset:
        """Closed form and simulation of (a, w) for every δ, with their relative error."""
        t, closed, simulated = self.trajectories()
        return xr.Dataset(
            trajectory_variables(closed, simulated, ("delta",)),
            coords=self.coords(t, ["w1", "w2"]),
        )


def cube_axes(ax, box: float, title: str) -> None:
    """A 3-d axes of (w1, w2, a) over the cube [−box, box]³ (Figures 2 and 7)."""
    limits = (-box, box)
    ax.set(xlim=limits, ylim=limits, zlim=limits, xlabel="w1", ylabel="w2", zlabel="a", title=title)


def exact_rule(claim: str, where: str, *, over: str = "") -> Threshold:
    """The rule "the closed form agrees with the DOP853 simulation" of a single-neuron figure
    (``over``: what the maximum runs over, when more than δ)."""
    quantity = "max relative error of (a, w), closed form against DOP853"
    return agrees(claim, where, f"{quantity}, {over}" if over else quantity)


def paired_trajectories(
    beta0: np.ndarray, deltas: np.ndarray, beta_star: np.ndarray, t: np.ndarray, *, rtol: float
) -> tuple[sn.Trajectory, sn.Trajectory]:
    """Closed form and DOP853 simulation on whitened data from (a0 > 0, w0) of (β0, δ).

    Args:
        beta0: shape (..., d), broadcast against ``deltas``.
        deltas: shape (...).
        beta_star: shape (d,).
        t: shape (T,).
        rtol: tolerance of the simulation.
    """
    shape = np.broadcast_shapes(beta0.shape[:-1], np.shape(deltas))
    a0, w0 = sn.initial_parameters(
        np.broadcast_to(beta0, (*shape, beta0.shape[-1])), np.broadcast_to(deltas, shape)
    )
    closed = sn.exact_trajectory(a0, w0, beta_star, t)
    simulated = sn.gradient_flow(a0, w0, np.eye(beta_star.size), beta_star, t, rtol=rtol)
    return closed, simulated


def relative_error(closed: sn.Trajectory, simulated: sn.Trajectory) -> np.ndarray:
    """max over t of ‖(a, w)_closed − (a, w)_simulated‖ / ‖(a, w)_simulated‖, shape (...)."""

    def state(trajectory):
        return np.concatenate([trajectory.a[..., None], trajectory.w], axis=-1)  # (..., T, 1+d)

    difference = np.linalg.norm(state(closed) - state(simulated), axis=-1)
    return np.max(difference / np.linalg.norm(state(simulated), axis=-1), axis=-1)


def trajectory_variables(
    closed: sn.Trajectory, simulated: sn.Trajectory, dims: tuple[str, ...]
) -> dict:
    """Dataset variables a, w, μ, φ, S(0, t) for both trajectories, plus their relative error.

    ``dims`` names the batch axes; "t" and "component" are appended. The kernel is the NTK on
    the whitened inputs X = I (docs/theory.md §2): K = M(β).
    """
    variables = {}
    for suffix, trajectory in (("", closed), ("_simulated", simulated)):
        d = trajectory.w.shape[-1]
        K = sn.ntk(np.eye(d), trajectory.a, trajectory.w)  # (..., T, d, d)
        variables |= {
            f"a{suffix}": ((*dims, "t"), trajectory.a),
            f"w{suffix}": ((*dims, "t", "component"), trajectory.w),
            f"mu{suffix}": ((*dims, "t"), trajectory.mu),
            f"phi{suffix}": ((*dims, "t"), trajectory.phi),
            f"kernel_distance{suffix}": ((*dims, "t"), sn.kernel_distance(K[..., :1, :, :], K)),
        }
    variables["relative_error"] = (dims, relative_error(closed, simulated))
    return variables
