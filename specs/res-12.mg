# RES-12 (paper Table 1, CIFAR-100): 1 residual unit per section.
network "RES-12" from "families/res.mg" (n = 1)
