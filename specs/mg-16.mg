# MG-16 (paper Table 1, CIFAR-100): 3 mg-conv layers per section.
network "MG-16" from "families/mg.mg" (n = 3)
