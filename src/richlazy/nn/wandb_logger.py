"""The FeatureMonitor's measures in Weights & Biases (extra ``wandb``; guide: docs/nn.md).

run = wandb.init(project="alpha-sweep")
log = WandbLogger(monitor, run)
for step in range(steps):
    log(step)                                  # records on the monitor's schedule
    ...
"""

from __future__ import annotations

from richlazy.nn import _extras
from richlazy.nn.monitor import FeatureMonitor

__all__ = ["WandbLogger"]


class WandbLogger(_extras.ScalarLogger):
    """Logs ``monitor.scalars(step)`` to a W&B run as ``prefix + name`` whenever the monitor's
    schedule records (§6.2's kernel distance, the activation change, the parameter distance,
    per layer), at the training step ``step``.

    Args:
        monitor: the FeatureMonitor of the model being trained.
        run: the ``wandb`` run (from ``wandb.init``); None for the active run ``wandb.run``.
        prefix: prepended to every name.

    Raises:
        TypeError: ``monitor`` is not a FeatureMonitor.
        ValueError: ``run`` is None and no run is active.
        ModuleNotFoundError: wandb is not installed (``pip install 'richlazy[wandb]'``).
    """

    def __init__(self, monitor: FeatureMonitor, run=None, *, prefix: str = "monitor/") -> None:
        super().__init__(monitor, prefix)
        wandb = _extras.require("wandb", "wandb", "Weights & Biases logging")
        run = wandb.run if run is None else run
        if run is None:
            raise ValueError("run must be a wandb run, and no run is active: call wandb.init()")
        self.run = run

    def write(self, step: int) -> None:
        """Log the record at ``step`` (recorded now if it is not yet)."""
        scalars = self.monitor.scalars(step)
        self.run.log({self.prefix + name: value for name, value in scalars.items()}, step=step)
