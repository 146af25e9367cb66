# R-PMG-sm-16 (paper Table 1, CIFAR-100): 1 residual unit per progressive step and per section, -sm widths (finest 40).
network "R-PMG-sm-16" from "families/r-pmg.mg" (n = 1, w = 40)
