# PMG-sm-16 (paper Table 1, CIFAR-100): 2 layers per progressive step and per section, -sm widths (finest 40).
network "PMG-sm-16" from "families/pmg.mg" (n = 2, w = 40)
