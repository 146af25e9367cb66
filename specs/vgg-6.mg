# VGG-6 (paper Table 1, CIFAR-100): 1 conv layer per section.
network "VGG-6" from "families/vgg.mg" (n = 1)
