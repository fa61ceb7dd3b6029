"""Models written in the project, one file each (no downloads): a deep MLP, a small CNN for
digits/MNIST, LeNet-5 (Figure 6a), the DAWNBench CIFAR-10 ResNet with a 15×15 first layer
(Figure 6b), a CIFAR ResNet-18, the hierarchical CNN of the Random Hierarchy Model, the
mean-field MLP the paper trains on it (Figure 6c), Nanda et al.'s one-layer transformer for
modular arithmetic and the post-LayerNorm transformer the paper groks with (Figure 6d;
docs/theory.md §6.4)."""

from richlazy.nn.models.cnn import SmallCNN
from richlazy.nn.models.dawn import ConvBN, DawnResNet, Residual
from richlazy.nn.models.grokking import GrokkingTransformer
from richlazy.nn.models.hierarchical import HierarchicalCNN
from richlazy.nn.models.lenet import LeNet5
from richlazy.nn.models.mean_field import MeanFieldMLP
from richlazy.nn.models.mlp import MLP
from richlazy.nn.models.resnet import BasicBlock, ResNet18
from richlazy.nn.models.transformer import ModularTransformer

__all__ = [
    "MLP",
    "BasicBlock",
    "ConvBN",
    "DawnResNet",
    "GrokkingTransformer",
    "HierarchicalCNN",
    "LeNet5",
    "MeanFieldMLP",
    "ModularTransformer",
    "ResNet18",
    "Residual",
    "SmallCNN",
]
