# MG-sm-11 (paper Table 1, CIFAR-100): 2 mg-conv layers per section, -sm widths (finest 40).
network "MG-sm-11" from "families/mg.mg" (n = 2, w = 40)
