# R-PMG-sm-44 (paper Table 1, CIFAR-100): 3 residual units per progressive step and per section, -sm widths (finest 40).
network "R-PMG-sm-44" from "families/r-pmg.mg" (n = 3, w = 40)
