# R-PMG-16 (paper Table 1, CIFAR-100): 1 residual unit per progressive step and per section.
network "R-PMG-16" from "families/r-pmg.mg" (n = 1)
