# WRN-34 (2.0) (paper Table 4 baseline, ImageNet): ResNet-34 with its stages twice as wide. The
# paper's 14.09G FLOPs are this network's; its 48.6M params are those of the x1.5 model (k = 1.5),
# which has 8.03G MACs by our count.
network "WRN-34 (2.0)" from "resnet-34.mg" (k = 2)
