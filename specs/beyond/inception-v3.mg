# Inception-v3 (Szegedy et al. 2016), as torchvision's inception_v3(aux_logits=False, init_weights=False):
# a stem of 3x3 convs and max pools, then Inception modules whose branches (1x1; 1x1 then 5x5; 1x1 then
# two 3x3; 3x3 average pool then 1x1; factorised 1x7 and 7x1 pairs; 1x3 and 3x1 pairs side by side) are
# concatenated in torchvision's order; every conv is torchvision's BasicConv2d (no bias, batch norm with
# eps 0.001, ReLU). Dropout is active in training only.
network "Inception-v3" (size = 299, classes = 1000)
input 3 @ size

unit c(w, k = 1, s = 1):
    conv w kernel=k stride=s bias=off eps=0.001
unit v(w, k = 3, s = 2):
    conv w kernel=k stride=s pad=0 bias=off eps=0.001
unit a(pf):
    b1 = c 64
    b5 = use in; c 48; c 64 5
    b3 = use in; c 64; c 96 3; c 96 3
    bp = use in; pool kernel=3 stride=1 pad=1 type=avg; c pf
    use b1; concat b5, b3, bp
unit b():
    b3 = v 384
    bd = use in; c 64; c 96 3; v 96
    bp = use in; pool kernel=3 stride=2 ceil=off
    use b3; concat bd, bp
unit cc(c7):
    b1 = c 192
    b7 = use in; c c7; c c7 1x7; c 192 7x1
    bd = use in; c c7; c c7 7x1; c c7 1x7; c c7 7x1; c 192 1x7
    bp = use in; pool kernel=3 stride=1 pad=1 type=avg; c 192
    use b1; concat b7, bd, bp
unit d():
    b3 = c 192; v 320
    b7 = use in; c 192; c 192 1x7; c 192 7x1; v 192
    bp = use in; pool kernel=3 stride=2 ceil=off
    use b3; concat b7, bp
# two convs side by side on what came before, concatenated: 1x3 then 3x1
unit pair():
    x = c 384 1x3
    y = use in; c 384 3x1
    use x; concat y
unit e():
    b1 = c 320
    b3 = use in; c 384; pair
    bd = use in; c 448; c 384 3; pair
    bp = use in; pool kernel=3 stride=1 pad=1 type=avg; c 192
    use b1; concat b3, bd, bp

v 32; v 32 s=1; c 64 3; pool kernel=3 stride=2 ceil=off; c 80; v 192 s=1; pool kernel=3 stride=2 ceil=off  # 149, 147, 73, 71, 35
a 32; 2 × a 64; b; cc 128; 2 × cc 160; cc 192; d; e; e; gap; dropout 0.5; fc classes                       # 35, 17, 8
