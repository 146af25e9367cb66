# PMG-11, segmentation (paper Table 2, synthetic MNIST): 10 per-pixel digit-class maps.
network "PMG-11-SEG" from "families/pmg.mg" (classes = 10)
