# R-SG-20 for synthetic MNIST (paper Sec. 4.2, Tables 2-3; our reading, no released code):
# R-PMG-20 reduced to its finest grid: the stem, 6 basic residual units and the output residual unit.
import "output-unit.mg"

network "R-SG" (canvas = 64, w = 64, classes = 10)
input 1 @ canvas

conv w
6 × res
outres classes
