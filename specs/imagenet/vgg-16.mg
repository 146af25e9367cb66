# VGG-16 (paper Table 4 baseline, ImageNet; Simonyan & Zisserman, configuration D): 13 convs with
# bias and no batch norm, 2x2 max pools, then FC 4096-4096-1000 with ReLU (dropout has no weights).
network "VGG-16" (w = 64, classes = 1000)
input 3 @ 224x224

2 × conv w bn=off
pool
2 × conv 2w bn=off
pool
3 × conv 4w bn=off
pool
3 × conv 8w bn=off
pool
3 × conv 8w bn=off
pool
fc 4096 relu=on
fc 4096 relu=on
fc classes
