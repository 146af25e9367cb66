# R-MG-22 (paper Table 1, CIFAR-100): 2 residual mg-units per section.
network "R-MG-22" from "families/r-mg.mg" (n = 2)
