# U-MG-11 for synthetic MNIST (paper Table 2; released code unmg.lua): the U-NET built from pyramids.
# Going down, each pool drops the coarsest grid after level 2; going up, each grid gets its own 2x2
# transposed conv, is joined with the skip pyramid grid of the same size (unpartnered grids pass
# through), and an mg-conv restores the level's widths. A 1x1 mg-conv head without ReLU gives the
# maps on every grid; only the finest grid's maps are kept.
network "U-MG" (canvas = 64, w = 64, classes = 10)
input 1 @ canvas
grids 3

e1 = conv w, w/2, w/4             # stems on the image average-pooled by 1, 2, 4
pool
e2 = mgconv 2w, w, w/2
pool drop
e3 = mgconv 4w, 2w
pool drop
mgconv 8w                         # one grid left: a plain conv
upconv 4w
concat e3
mgconv 4w, 2w
upconv 2w, w
concat e2
mgconv 2w, w, w/2
upconv w, w/2, w/4
concat e1
mgconv w, w/2, w/4
mgconv classes kernel=1 relu=off  # per-grid logit maps
drop 2                            # keep the finest grid's maps
