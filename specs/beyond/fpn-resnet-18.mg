# Feature pyramid network (Lin et al. 2017) on ResNet-18, as torchvision's
# resnet_fpn_backbone("resnet18", norm_layer=nn.BatchNorm2d): 1x1 laterals on the four stages, a
# top-down pathway of nearest upsampling and sums, 3x3 output convs, and a stride-2 max pool of the
# coarsest level; outputs P2..P5 and `pool`, in that order.
network "FPN-ResNet-18" (size = 224, d = 256)
input 3 @ size

unit lateral(d):
    conv d kernel=1 bn=off relu=off

conv 64 kernel=7 stride=2 bias=off; pool kernel=3 stride=2 pad=1
c2 = 2 × res 64 bias=off shortcut=proj
c3 = res 128 stride=2 bias=off shortcut=proj; res 128 bias=off shortcut=proj
c4 = res 256 stride=2 bias=off shortcut=proj; res 256 bias=off shortcut=proj
res 512 stride=2 bias=off shortcut=proj; res 512 bias=off shortcut=proj
i5 = lateral d
l4 = use c4; lateral d
i4 = use i5; upsample to=l4; add l4 shortcut=none
l3 = use c3; lateral d
i3 = use i4; upsample to=l3; add l3 shortcut=none
l2 = use c2; lateral d
p2 = use i3; upsample to=l2; add l2 shortcut=none; conv d bn=off relu=off
p3 = use i3; conv d bn=off relu=off
p4 = use i4; conv d bn=off relu=off
p5 = use i5; conv d bn=off relu=off
p6 = pool kernel=1 stride=2 ceil=off
outputs p2, p3, p4, p5, p6
