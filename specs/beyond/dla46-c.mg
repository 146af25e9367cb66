# DLA-46-C (Yu et al. 2018, "Deep Layer Aggregation"), as timm's dla46_c: bottleneck units (1x1 to half
# the width, 3x3, 1x1 back, added to a shortcut) in aggregation trees. A tree of depth 1 runs two units
# and a root (a 1x1 conv over the two outputs and, where given, earlier outputs concatenated); a tree of
# depth 2 nests two of them, the second's root also taking the tree's pooled input and the first's output.
# A strided unit's shortcut is the 2x2 max pool of its input, projected by a 1x1 conv where the width grows.
network "DLA-46-C" (size = 224, classes = 1000)
input 3 @ size

unit bneck(out, short, stride = 1):
    conv out/2 kernel=1 bias=off; conv out/2 stride=stride bias=off; conv out kernel=1 bias=off relu=off
    add short shortcut=none; relu
# a depth-2 tree entered with a 2x2 max pool: its pooled input b is also one of the last root's inputs
unit deep(out):
    b = pool
    if ch != out:
        s = conv out kernel=1 bias=off relu=off
    else:
        s = use b
    t1 = use in; bneck out s stride=2
    x1 = bneck out t1; concat t1; conv out kernel=1 bias=off
    u1 = bneck out x1
    bneck out u1; concat u1, b, x1; conv out kernel=1 bias=off

conv 16 kernel=7 bias=off; conv 16 bias=off  # 224
l1 = conv 32 stride=2 bias=off               # 112
s2 = pool; conv 64 kernel=1 bias=off relu=off
t2 = use l1; bneck 64 s2 stride=2            # 56
bneck 64 t2; concat t2; conv 64 kernel=1 bias=off
deep 64                                      # 28
l4 = deep 128                                # 14
b5 = pool
s5 = conv 256 kernel=1 bias=off relu=off
t5 = use l4; bneck 256 s5 stride=2           # 7
bneck 256 t5; concat t5, b5; conv 256 kernel=1 bias=off
gap; conv classes kernel=1 bn=off relu=off; flatten
