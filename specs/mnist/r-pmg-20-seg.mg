# R-PMG-20, segmentation (paper Table 2, synthetic MNIST): 10 per-pixel digit-class maps.
network "R-PMG-20-SEG" from "families/r-pmg.mg" (classes = 10)
