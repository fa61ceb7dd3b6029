"""Models written in the project, one file each (no downloads): a deep MLP, a small CNN for
digits/MNIST, LeNet-5 (Figure 6a), the DAWNBench CIFAR-10 ResNet with a 15×15 first layer
(Figure 6b), a CIFAR ResNet-18, the hierarchical CNN of the Random Hierarchy Model and Nanda et
al.'s one-layer transformer for modular arithmetic."""

from richlazy.nn.models.cnn import SmallCNN
from richlazy.nn.models.dawn import ConvBN, DawnResNet, Residual
from richlazy.nn.models.hierarchical import HierarchicalCNN
from richlazy.nn.models.lenet import LeNet5
from richlazy.nn.models.mlp import MLP
from richlazy.nn.models.resnet import BasicBlock, ResNet18
from richlazy.nn.models.transformer import ModularTransformer

__all__ = [
    "MLP",
    "BasicBlock",
    "ConvBN",
    "DawnResNet",
    "HierarchicalCNN",
    "LeNet5",
    "ModularTransformer",
    "ResNet18",
    "Residual",
    "SmallCNN",
]
