"""Unbalanced initialization, per-layer rates, conserved quantities, the empirical NTK and a
feature-learning monitor for any ``torch.nn.Module`` (docs/theory.md §6; guide: docs/nn.md).

- ``unbalance(model, alpha)`` rescales the first (and last) layer in place and returns an
  ``InitGeometry`` whose ``param_groups(lr)`` feed any ``torch.optim`` optimizer (§6.1);
- ``conserved_quantities(model, lrs=...)`` the δ_k (and Δ matrices) of its layer pairs (§6.1);
- ``empirical_ntk(model, x1, x2)`` the kernel, layer by layer, exact in float64 (§6.2), and
  ``kernel_distance(K0, Kt)``;
- ``FeatureMonitor(model, probe_x, optimizer=...)`` records them in the user's own loop
  (``scalars(step)`` for any logger; adapters: ``tensorboard_logger``, ``wandb_logger``,
  ``lightning_callback``, each needing its extra);
- ``alpha_sweep(make_model, alphas, (x, y), ...)`` trains at several α and returns the
  monitor's measures with dims (alpha, seed, step); ``plot_alpha_sweep`` draws them;
- ``fit(models, x, y, optimizer=SGD(lr, ...), schedule=...)`` a small seeded training loop for
  one model or a vmapped batch of them (``richlazy.nn.training``), with optimizer objects
  (``SGD``, ``AdamW``, ``optimizer_named``: ``richlazy.nn.optimizers``) and learning-rate
  schedules (``Constant``, ``CosineAnnealing``, ``LinearWarmUp``, ``PiecewiseLinear``:
  ``richlazy.nn.schedules``);
- ``richlazy.nn.models``: MLP, SmallCNN (digits/MNIST), LeNet5 and DawnResNet (the paper's
  Figure 6 networks), ResNet18 (CIFAR), and the Section 5 models (HierarchicalCNN,
  MeanFieldMLP, ModularTransformer, GrokkingTransformer; §6.4);
- ``richlazy.nn.filters``: smoothness scores of convolution filters, the paper's
  ``filter_smoothness`` among them (§6.4);
- ``richlazy.nn.benchmark.ntk_benchmark``: the eNTK against the torch.func Jacobian.
"""

from richlazy.nn import models
from richlazy.nn.alpha_sweep import alpha_sweep, plot_alpha_sweep
from richlazy.nn.conserved import conserved_quantities
from richlazy.nn.geometry import InitGeometry, unbalance
from richlazy.nn.monitor import FeatureMonitor, log_schedule
from richlazy.nn.ntk import empirical_ntk, kernel_distance, ntk_routes
from richlazy.nn.optimizers import SGD, AdamW, Optimizer, optimizer_named
from richlazy.nn.schedules import Constant, CosineAnnealing, LinearWarmUp, PiecewiseLinear
from richlazy.nn.training import fit

__all__ = [
    "SGD",
    "AdamW",
    "Constant",
    "CosineAnnealing",
    "FeatureMonitor",
    "InitGeometry",
    "LinearWarmUp",
    "Optimizer",
    "PiecewiseLinear",
    "alpha_sweep",
    "conserved_quantities",
    "empirical_ntk",
    "fit",
    "kernel_distance",
    "log_schedule",
    "models",
    "ntk_routes",
    "optimizer_named",
    "plot_alpha_sweep",
    "unbalance",
]
