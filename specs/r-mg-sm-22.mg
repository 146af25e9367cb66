# R-MG-sm-22 (paper Table 1, CIFAR-100): 2 residual mg-units per section, -sm widths (finest 40).
network "R-MG-sm-22" from "families/r-mg.mg" (n = 2, w = 40)
