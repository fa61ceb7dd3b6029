"""The two-layer piecewise-linear experiments (the paper's Figures 1, 5, 10, and the drift of the
conserved quantities under SGD), trained as batched grids by ``richlazy.train`` (docs/theory.md §5).

Each module defines ``EXPERIMENT``; the registry (``richlazy.experiments``) imports it on use.
"""
