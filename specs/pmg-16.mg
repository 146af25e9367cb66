# PMG-16 (paper Table 1, CIFAR-100): progressive multigrid, 2 layers per step and section.
network "PMG-16" from "families/pmg.mg" (n = 2)
