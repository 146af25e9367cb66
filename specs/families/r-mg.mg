# R-MG-(10n+2) for CIFAR-100 (paper Table 1): stems, then n residual multigrid units per section.
network "R-MG" (n = 2, w = 64, classes = 100)
input 3 @ 32x32
grids 32x32, 16x16, 8x8

conv w, w/2, w/4
n × resmg
pool
n × resmg 2w, w, w/2
pool
n × resmg 4w, 2w, w
pool
n × resmg 8w, 4w, 2w  kernel=3, 3, 1
pool merge
n × resmg 8w, 6w  kernel=3, 1
pool merge
fc classes
