# ResNeXt-50 32x4d (Xie et al. 2017), as torchvision's resnext50_32x4d(): ResNet-50's bottleneck
# units {3, 4, 6, 3} with the 3x3 conv split into 32 groups of 4 (x stage) channels, twice as wide.
network "ResNeXt-50-32x4d" (size = 224, classes = 1000)
input 3 @ size

# 1x1 reduce, grouped 3x3 (strided), 1x1 expand to 4x the stage width; project the shortcut where needed
unit bottleneck(width, stride = 1, cardinality = 32):
    conv 2*width kernel=1 bias=off
    conv 2*width kernel=3 stride=stride groups=cardinality bias=off
    conv 4*width kernel=1 relu=off bias=off
    add in shortcut=proj
    relu

section stem
conv 64 kernel=7 stride=2 bias=off  # 112
pool kernel=3 stride=2 pad=1        # 56
section s1
3 × bottleneck 64
section s2
bottleneck 128 stride=2; 3 × bottleneck 128
section s3
bottleneck 256 stride=2; 5 × bottleneck 256
section s4
bottleneck 512 stride=2; 2 × bottleneck 512
section head
fc classes pool=avg
