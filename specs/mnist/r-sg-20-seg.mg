# R-SG-20, segmentation (paper Table 2, synthetic MNIST): 10 per-pixel digit-class maps.
network "R-SG-20-SEG" from "families/r-sg.mg" (classes = 10)
