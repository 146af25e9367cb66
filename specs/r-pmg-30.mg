# R-PMG-30 (paper Table 1, CIFAR-100): 2 residual units per step and section.
network "R-PMG-30" from "families/r-pmg.mg" (n = 2)
