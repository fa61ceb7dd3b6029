"""The deep-network experiments of the paper's §5 (Figure 6: kernel distance, first-layer
filters, the Random Hierarchy Model, grokking), trained with ``richlazy.nn`` (docs/theory.md §6).

Each module defines ``EXPERIMENT``; the registry (``richlazy.experiments``) imports it on use.
"""
