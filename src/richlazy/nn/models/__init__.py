"""Models written in the project, one file each (no downloads): a deep MLP, a small CNN for
digits/MNIST and a CIFAR ResNet-18."""

from richlazy.nn.models.cnn import SmallCNN
from richlazy.nn.models.mlp import MLP
from richlazy.nn.models.resnet import BasicBlock, ResNet18

__all__ = ["MLP", "BasicBlock", "ResNet18", "SmallCNN"]
