# PMG-9 (paper Table 1, CIFAR-100): 1 layer per progressive step and per section.
network "PMG-9" from "families/pmg.mg" (n = 1)
