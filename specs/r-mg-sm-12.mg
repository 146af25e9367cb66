# R-MG-sm-12 (paper Table 1, CIFAR-100): 1 residual mg-unit per section, -sm widths (finest 40).
network "R-MG-sm-12" from "families/r-mg.mg" (n = 1, w = 40)
