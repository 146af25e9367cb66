# PMG-sm-30 (paper Table 1, CIFAR-100): 3 layers per progressive step and per section, -sm widths (finest 40).
# Naming anomaly: the paper's "PMG-sm-30" row (Table 1) matches n = 3 exactly, which is
# 7n+2 = 23 weight layers by the naming rule; n = 4 would equal R-PMG-sm-30.
network "PMG-sm-30" from "families/pmg.mg" (n = 3, w = 40)
