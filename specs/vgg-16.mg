# VGG-16 (paper Table 1, CIFAR-100): 3 conv layers per section.
network "VGG-16" from "families/vgg.mg" (n = 3)
