# U-NET-11, spatial transformation (paper Table 3, synthetic MNIST): 1 output map.
network "U-NET-11-SPT" from "families/u-net.mg" (classes = 1)
