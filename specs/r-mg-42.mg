# R-MG-42 (paper Table 1, CIFAR-100): 4 residual mg-units per section.
network "R-MG-42" from "families/r-mg.mg" (n = 4)
