# VGG-11 (paper Table 1, CIFAR-100): 2 conv layers per section.
network "VGG-11" from "families/vgg.mg" (n = 2)
