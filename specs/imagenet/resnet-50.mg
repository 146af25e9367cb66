# ResNet-50 (paper Table 4 baseline, ImageNet; He et al.): bottleneck units {3, 4, 6, 3}, convs
# without bias, type-B shortcuts. The stride sits on the 3x3 conv (the common "v1.5" placement):
# ~4.09G MACs; the paper's 4.46G is not reproducible from the structure. Params match (25.6M).
network "ResNet-50" (w = 64, classes = 1000)
input 3 @ 224x224

# 1x1 reduce, 3x3 (strided), 1x1 expand to 4x the width; project the shortcut where the shape changes.
unit bottleneck(width, stride = 1):
    conv width kernel=1 bias=off
    conv width kernel=3 stride=stride bias=off
    conv 4*width kernel=1 relu=off bias=off
    add in shortcut=proj
    relu

section stem
conv w kernel=7 stride=2 bias=off  # 112
pool kernel=3 stride=2 pad=1       # 56
section s1
3 × bottleneck w
section s2
bottleneck 2w stride=2; 3 × bottleneck 2w
section s3
bottleneck 4w stride=2; 5 × bottleneck 4w
section s4
bottleneck 8w stride=2; 2 × bottleneck 8w
section head
fc classes pool=avg
