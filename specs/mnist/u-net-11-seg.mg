# U-NET-11, segmentation (paper Table 2, synthetic MNIST): 10 per-pixel digit-class maps.
network "U-NET-11-SEG" from "families/u-net.mg" (classes = 10)
