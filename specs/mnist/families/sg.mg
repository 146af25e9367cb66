# SG-11 for synthetic MNIST (paper Sec. 4.2, Tables 2-3; our reading, no released code): PMG-11 with
# every grid but the finest removed, and with it every layer that never touched the finest grid:
# the stem, the finest-grid parts of the 4 all-grid, 3-grid and 2-grid layers (6 convs), the 3x3 head.
network "SG" (canvas = 64, w = 64, classes = 10)
input 1 @ canvas

conv w
6 × conv
maps classes kernel=3
