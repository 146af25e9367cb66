# R-MG-12 (paper Table 1, CIFAR-100): 1 residual mg-unit per section.
network "R-MG-12" from "families/r-mg.mg" (n = 1)
