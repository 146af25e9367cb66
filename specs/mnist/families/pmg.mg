# PMG-11 for synthetic MNIST (paper Sec. 4.2-4.3, Tables 2-3, Fig. 3): four grids (canvas /1, /2,
# /4, /8 with widths w, w/2, w/4, w/8) that are never pooled. Processing switches on coarse to fine,
# runs on all grids, then removes the coarsest grid before each of the last layers, down to a 3x3
# conv + BN head on the finest grid. This follows the released code (0.61M, as Table 2); Fig. 3's
# text reads like 3 four-grid layers and a separate 64-wide layer instead (about 0.55M).
network "PMG" (canvas = 64, w = 64, classes = 10)
input 1 @ canvas
grids 4

conv w, w/2, w/4, w/8  # stems on the image average-pooled by 1, 2, 4, 8
conv on coarsest
mgconv on coarsest 2
mgconv on coarsest 3
4 × mgconv
drop; mgconv           # the coarsest grid goes before the mg-conv gathers
drop; mgconv
drop; maps classes kernel=3
