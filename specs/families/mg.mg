# MG-(5n+1) for CIFAR-100 (paper Table 1, Fig. 3): n multigrid conv layers per section on a pyramid
# of three grids. The per-grid stems count as the first layer of section 1. Grids of size 1x1 use
# 1x1 kernels; once the coarsest grid is 1x1, pooling folds it into the next (`pool merge`).
network "MG" (n = 3, w = 64, classes = 100)
input 3 @ 32x32
grids 32x32, 16x16, 8x8

conv w, w/2, w/4  # stems on the image average-pooled by 1, 2, 4
(n - 1) × mgconv
pool
n × mgconv 2w, w, w/2
pool
n × mgconv 4w, 2w, w
pool
n × mgconv 8w, 4w, 2w  kernel=3, 3, 1
pool merge        # 2x2: 8w, 1x1: 4w + 2w = 6w
n × mgconv 8w, 6w  kernel=3, 1
pool merge        # 1x1: 8w + 6w = 14w
fc classes
