# PMG-11, spatial transformation (paper Table 3, synthetic MNIST): 1 output map.
network "PMG-11-SPT" from "families/pmg.mg" (classes = 1)
