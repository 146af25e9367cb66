# RES-42 (paper Table 1, CIFAR-100): 4 residual units per section.
network "RES-42" from "families/res.mg" (n = 4)
