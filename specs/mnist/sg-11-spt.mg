# SG-11, spatial transformation (paper Table 3, synthetic MNIST): 1 output map.
network "SG-11-SPT" from "families/sg.mg" (classes = 1)
