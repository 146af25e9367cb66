# GhostNet 1.0x (Han et al. 2020), as timm's ghostnet_100: ghost bottlenecks of two ghost modules (a 1x1
# conv makes half the channels, a cheap depthwise 3x3 conv of them the other half, both concatenated and
# the first `out` kept), a strided depthwise conv between them where the grid halves, squeeze-and-
# excitation with a hard-sigmoid gate in some, and a shortcut that is the input or, where the shape
# changes, a depthwise conv and a 1x1 conv. Dropout is active in training only.
network "GhostNet-100" (size = 224, classes = 1000)
input 3 @ size

unit ghost(out, act = relu):
    p = conv out/2 kernel=1 bias=off act=act
    cheap = conv groups=depthwise bias=off act=act
    use p; concat cheap; slice out
# squeeze-and-excitation of e channels through r, gated by a hard sigmoid
unit squeeze(e, r):
    gap; conv r kernel=1 bn=off; conv e kernel=1 bn=off act=hardsigmoid
    scale in
unit bneck(mid, out, k = 3, stride = 1, se = 0, project = off):
    ghost mid
    if stride > 1:
        conv groups=depthwise kernel=k stride=stride bias=off relu=off
    if se > 0:
        squeeze mid se
    m = ghost out act=none
    if project:
        use in; conv groups=depthwise kernel=k stride=stride bias=off relu=off; conv out kernel=1 bias=off relu=off
        add m shortcut=none
    else:
        add in shortcut=none
# the last stage's blocks, in pairs: one without and one with squeeze-and-excitation
unit last(se):
    bneck 960 160 k=5; bneck 960 160 k=5 se=se

conv 16 stride=2 bias=off                                          # 112
bneck 16 16
bneck 48 24 stride=2 project=on; bneck 72 24                       # 56
bneck 72 40 k=5 stride=2 se=20 project=on; bneck 120 40 k=5 se=32  # 28
bneck 240 80 stride=2 project=on; bneck 200 80; 2 × bneck 184 80   # 14
bneck 480 112 se=120 project=on; bneck 672 112 se=168
bneck 672 160 k=5 stride=2 se=168 project=on                       # 7
2 × last 240
conv 960 kernel=1 bias=off
gap; conv 1280 kernel=1 bn=off; dropout 0.2; fc classes
