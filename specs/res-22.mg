# RES-22 (paper Table 1, CIFAR-100): 2 residual units per section.
network "RES-22" from "families/res.mg" (n = 2)
