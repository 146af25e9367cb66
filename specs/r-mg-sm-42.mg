# R-MG-sm-42 (paper Table 1, CIFAR-100): 4 residual mg-units per section, -sm widths (finest 40).
network "R-MG-sm-42" from "families/r-mg.mg" (n = 4, w = 40)
