# PMG-(7n+2) for CIFAR-100 (paper Table 1, Fig. 3): like MG, but section 1 switches the grids on
# coarse to fine: n layers on the coarsest grid, n mg-convs on the two coarsest, n on all three.
network "PMG" (n = 2, w = 64, classes = 100)
input 3 @ 32x32
grids 32x32, 16x16, 8x8

conv w, w/2, w/4
n × conv on coarsest
n × mgconv on coarsest 2
n × mgconv
pool
n × mgconv 2w, w, w/2
pool
n × mgconv 4w, 2w, w
pool
n × mgconv 8w, 4w, 2w  kernel=3, 3, 1
pool merge
n × mgconv 8w, 6w  kernel=3, 1
pool merge
fc classes
