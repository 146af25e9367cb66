# RES-32 (paper Table 1, CIFAR-100): 3 residual units per section.
network "RES-32" from "families/res.mg" (n = 3)
