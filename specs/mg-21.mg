# MG-21 (paper Table 1, CIFAR-100): 4 mg-conv layers per section.
network "MG-21" from "families/mg.mg" (n = 4)
