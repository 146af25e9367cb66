# U-MG-11, segmentation (paper Table 2, synthetic MNIST): 10 per-pixel digit-class maps.
network "U-MG-11-SEG" from "families/u-mg.mg" (classes = 10)
