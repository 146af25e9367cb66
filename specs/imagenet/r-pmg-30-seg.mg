# R-PMG-30-SEG (paper Table 4, ImageNet): progressive residual multigrid net on four grids that are
# never pooled (paper Sec. 4.4). Section 1 switches the grids on coarse to fine, two units per step,
# each step widening every active grid to the width of the newly added one. The classifier reads
# only the coarsest grid, so the finer grids' last units feed nothing: they are dropped explicitly.
# Params match the paper (31.9M); its 2.77 GFLOPs is not reproducible: this structure is ~9.52G.
network "R-PMG-30-SEG" (w = 64, classes = 1000)
input 3 @ 224x224
grids 4  # the image average-pooled by 1, 2, 4, 8

section stem
conv w, w/2, w/4, w/8  kernel=7 stride=2  # 112, 56, 28, 14
pool kernel=3 stride=2 pad=1              # 56, 28, 14, 7
section s1
2 × res on coarsest                       # 7: w/8
2 × resmg w/4 on coarsest 2               # 14, 7: w/4
2 × resmg w/2 on coarsest 3               # 28, 14, 7: w/2
2 × resmg w                               # 56, 28, 14, 7: w
section s2
2 × resmg w, w, w, 2w
section s3
2 × resmg w, w, 2w, 4w
section s4
2 × resmg w, 2w, 4w, 8w
section head
drop on finest 3                          # keep the 7x7 grid only
fc classes pool=avg
