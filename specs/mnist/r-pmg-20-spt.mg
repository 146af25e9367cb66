# R-PMG-20, spatial transformation (paper Table 3, synthetic MNIST): 1 output map.
network "R-PMG-20-SPT" from "families/r-pmg.mg" (classes = 1)
