# R-PMG-20 for synthetic MNIST (paper Sec. 4.2-4.3, Tables 2-3): PMG-11's schedule with residual
# units, ending in the output residual unit on the finest grid. As in the released code this has 21
# convs on the main path (the name says 20; a plain 1x1 output conv would make 20, also 1.20M).
import "output-unit.mg"

network "R-PMG" (canvas = 64, w = 64, classes = 10)
input 1 @ canvas
grids 4

conv w, w/2, w/4, w/8  # stems on the image average-pooled by 1, 2, 4, 8
res on coarsest
resmg on coarsest 2
resmg on coarsest 3
resmg
3 × resmg
drop; resmg
drop; resmg
drop; outres classes
