# R-PMG-sm-30 (paper Table 1, CIFAR-100): 2 residual units per progressive step and per section, -sm widths (finest 40).
network "R-PMG-sm-30" from "families/r-pmg.mg" (n = 2, w = 40)
