# SG-11, segmentation (paper Table 2, synthetic MNIST): 10 per-pixel digit-class maps.
network "SG-11-SEG" from "families/sg.mg" (classes = 10)
