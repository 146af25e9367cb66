# ResNet-34 (paper Table 4 baseline, ImageNet; He et al.): basic units {3, 4, 6, 3}, convs without
# bias, type-B shortcuts (a 1x1 conv + BN projection only where the shape changes). The paper's row
# is labelled "ResNet-34 C", but its 21.8M params are those of type-B shortcuts (all-projection
# type C would be 22.7M). k widens the four stages but not the stem, as the wide ResNets do.
network "ResNet-34" (w = 64, k = 1, classes = 1000)
input 3 @ 224x224

section stem
conv w kernel=7 stride=2 bias=off  # 112
pool kernel=3 stride=2 pad=1       # 56
section s1
3 × res k*w bias=off shortcut=proj
section s2
res 2*k*w stride=2 bias=off shortcut=proj; 3 × res 2*k*w bias=off shortcut=proj
section s3
res 4*k*w stride=2 bias=off shortcut=proj; 5 × res 4*k*w bias=off shortcut=proj
section s4
res 8*k*w stride=2 bias=off shortcut=proj; 2 × res 8*k*w bias=off shortcut=proj
section head
fc classes pool=avg
