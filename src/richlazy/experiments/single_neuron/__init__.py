"""The single-neuron experiments (the paper's §3: Figures 2, 3, 4, 7, 8), drawn from the closed
forms of ``richlazy.single_neuron`` against the reference integrator (docs/theory.md §2).

Each module defines ``EXPERIMENT``; the registry (``richlazy.experiments``) imports it on use.
"""
