# R-PMG-44 (paper Table 1, CIFAR-100): 3 residual units per progressive step and per section.
network "R-PMG-44" from "families/r-pmg.mg" (n = 3)
