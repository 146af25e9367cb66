# MG-sm-21 (paper Table 1, CIFAR-100): 4 mg-conv layers per section, -sm widths (finest 40).
network "MG-sm-21" from "families/mg.mg" (n = 4, w = 40)
