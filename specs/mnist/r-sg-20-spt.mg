# R-SG-20, spatial transformation (paper Table 3, synthetic MNIST): 1 output map.
network "R-SG-20-SPT" from "families/r-sg.mg" (classes = 1)
