# R-MG-34 (paper Table 4, ImageNet): residual multigrid net in the ResNet-34 layout of {3, 4, 6, 3}
# units (paper Sec. 4.4). Each grid has its own ResNet stem; pyramid pools fold the coarsest grid into
# the next once it has reached 7x7, so the last section is plain residual units on one 7x7 grid.
network "R-MG-34" (w = 64, classes = 1000)
input 3 @ 224x224
grids 3  # the image average-pooled by 1, 2, 4

section stem
conv w, w/2, w/4  kernel=7 stride=2  # 112, 56, 28
pool kernel=3 stride=2 pad=1         # 56, 28, 14 (floor mode, as in ResNet)
section s1
3 × resmg
pool                                 # 28, 14, 7
section s2
4 × resmg 2w, w, w/2
pool merge                           # 14: 2w, 7: w + w/2
section s3
6 × resmg 4w, 2w
pool merge                           # 7: 4w + 2w
section s4
3 × res 8w
section head
fc classes pool=avg
