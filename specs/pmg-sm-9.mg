# PMG-sm-9 (paper Table 1, CIFAR-100): 1 layer per progressive step and per section, -sm widths (finest 40).
network "PMG-sm-9" from "families/pmg.mg" (n = 1, w = 40)
