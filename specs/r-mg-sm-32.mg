# R-MG-sm-32 (paper Table 1, CIFAR-100): 3 residual mg-units per section, -sm widths (finest 40).
network "R-MG-sm-32" from "families/r-mg.mg" (n = 3, w = 40)
