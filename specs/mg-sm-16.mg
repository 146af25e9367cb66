# MG-sm-16 (paper Table 1, CIFAR-100): 3 mg-conv layers per section, -sm widths (finest 40).
network "MG-sm-16" from "families/mg.mg" (n = 3, w = 40)
