"""Models written in the project, one file each (no downloads): a deep MLP, a small CNN for
digits/MNIST, a CIFAR ResNet-18, the hierarchical CNN of the Random Hierarchy Model, the
mean-field MLP the paper trains on it, Nanda et al.'s one-layer transformer for modular
arithmetic and the post-LayerNorm transformer the paper groks with (docs/theory.md §6.3)."""

from richlazy.nn.models.cnn import SmallCNN
from richlazy.nn.models.grokking import GrokkingTransformer
from richlazy.nn.models.hierarchical import HierarchicalCNN
from richlazy.nn.models.mean_field import MeanFieldMLP
from richlazy.nn.models.mlp import MLP
from richlazy.nn.models.resnet import BasicBlock, ResNet18
from richlazy.nn.models.transformer import ModularTransformer

__all__ = [
    "MLP",
    "BasicBlock",
    "GrokkingTransformer",
    "HierarchicalCNN",
    "MeanFieldMLP",
    "ModularTransformer",
    "ResNet18",
    "SmallCNN",
]
