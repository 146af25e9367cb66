# VGG-21 (paper Table 1, CIFAR-100): 4 conv layers per section.
network "VGG-21" from "families/vgg.mg" (n = 4)
