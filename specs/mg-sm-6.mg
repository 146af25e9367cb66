# MG-sm-6 (paper Table 1, CIFAR-100): 1 mg-conv layer per section, -sm widths (finest 40).
network "MG-sm-6" from "families/mg.mg" (n = 1, w = 40)
