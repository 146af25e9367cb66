# R-PMG-(14n+2) for CIFAR-100 (paper Table 1, Fig. 3): progressive residual multigrid network.
# Section 1 grows coarse to fine; every section then holds n residual mg-units.
network "R-PMG" (n = 2, w = 64, classes = 100)
input 3 @ 32x32
grids 32x32, 16x16, 8x8

conv w, w/2, w/4                      # per-grid stems on the average-pooled image
n × res on coarsest                   # section 1: the 8x8 grid first,
n × resmg on coarsest 2               # then 16x16 and 8x8,
n × resmg                             # then all three
pool
n × resmg 2w, w, w/2
pool
n × resmg 4w, 2w, w
pool
n × resmg 8w, 4w, 2w  kernel=3, 3, 1  # the 1x1 grid takes a 1x1 kernel
pool merge                            # fold the 1x1 grid into the 2x2 one: 4w + 2w = 6w
n × resmg 8w, 6w  kernel=3, 1
pool merge                            # 1x1: 8w + 6w = 14w = 896
fc classes
