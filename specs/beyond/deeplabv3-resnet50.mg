# DeepLabV3 (Chen et al. 2017) on ResNet-50, as torchvision's deeplabv3_resnet50(num_classes=21,
# aux_loss=False), output `out`: the last two stages dilated instead of strided (output stride 8),
# atrous spatial pyramid pooling (a 1x1 conv, 3x3 convs of dilation 12, 24, 36 and an image-pooling
# branch, concatenated and projected), a 3x3 conv, 1x1 class maps, and bilinear upsampling to the input.
network "DeepLabV3-ResNet50" (size = 512, classes = 21)
input 3 @ size

# ResNet-50's bottleneck, its 3x3 conv dilated
unit bottleneck(width, stride = 1, dilation = 1):
    conv width kernel=1 bias=off
    conv width stride=stride dilation=dilation bias=off
    conv 4*width kernel=1 relu=off bias=off
    add in shortcut=proj
    relu

section backbone
conv 64 kernel=7 stride=2 bias=off             # 256
pool kernel=3 stride=2 pad=1                   # 128
3 × bottleneck 64
bottleneck 128 stride=2; 3 × bottleneck 128    # 64
bottleneck 256; 5 × bottleneck 256 dilation=2  # dilated from here on
x = bottleneck 512 dilation=2; 2 × bottleneck 512 dilation=4
section aspp
b1 = conv 256 kernel=1 bias=off
b2 = use x; conv 256 dilation=12 bias=off
b3 = use x; conv 256 dilation=24 bias=off
b4 = use x; conv 256 dilation=36 bias=off
pooled = use x; gap; conv 256 kernel=1 bias=off; upsample to=x mode=bilinear
use b1; concat b2, b3, b4, pooled
conv 256 kernel=1 bias=off; dropout 0.5
section head
conv 256 bias=off
conv classes kernel=1 bn=off act=none
upsample 8 mode=bilinear                       # back to the input size
