# MG-11 (paper Table 1, CIFAR-100): 2 mg-conv layers per section.
network "MG-11" from "families/mg.mg" (n = 2)
