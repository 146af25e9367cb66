# R-MG-32 (paper Table 1, CIFAR-100): 3 residual mg-units per section.
network "R-MG-32" from "families/r-mg.mg" (n = 3)
