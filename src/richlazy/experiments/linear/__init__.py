"""The linear-network experiments (the paper's §4: Theorem 4.2 for wide two-layer networks, and deep
linear networks' learning-speed profiles; docs/theory.md §3, §4).

Each module defines ``EXPERIMENT``; the registry (``richlazy.experiments``) imports it on use.
"""
