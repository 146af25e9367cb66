# MG-6 (paper Table 1, CIFAR-100): 1 mg-conv layer per section.
network "MG-6" from "families/mg.mg" (n = 1)
