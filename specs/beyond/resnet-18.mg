# ResNet-18 (He et al. 2016), as torchvision's resnet18(): basic units {2, 2, 2, 2}, convs without
# bias, a 1x1 conv + BN projection where the shape changes, global average pool and a linear head.
network "ResNet-18" (size = 224, classes = 1000)
input 3 @ size

section stem
conv 64 kernel=7 stride=2 bias=off  # 112
pool kernel=3 stride=2 pad=1        # 56
section s1
2 × res 64 bias=off shortcut=proj
section s2
res 128 stride=2 bias=off shortcut=proj; res 128 bias=off shortcut=proj
section s3
res 256 stride=2 bias=off shortcut=proj; res 256 bias=off shortcut=proj
section s4
res 512 stride=2 bias=off shortcut=proj; res 512 bias=off shortcut=proj
section head
fc classes pool=avg
