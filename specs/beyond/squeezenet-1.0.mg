# SqueezeNet 1.0 (Iandola et al. 2016), as torchvision's squeezenet1_0(): fire modules (a 1x1 squeeze,
# then 1x1 and 3x3 expansions side by side, concatenated 1x1 first), ReLU after every conv, no batch
# norm, 3x3 stride-2 max pools in ceil mode, and a 1x1 conv classifier averaged over the grid.
network "SqueezeNet-1.0" (size = 224, classes = 1000)
input 3 @ size

unit fire(s, e):
    sq = conv s kernel=1 bn=off
    wide = conv e kernel=3 bn=off
    use sq; conv e kernel=1 bn=off; concat wide

conv 96 kernel=7 stride=2 pad=0 bn=off; pool kernel=3 stride=2 ceil=on  # 54
fire 16 e=64; fire 16 e=64; fire 32 e=128
pool kernel=3 stride=2 ceil=on                                          # 27
fire 32 e=128; fire 48 e=192; fire 48 e=192; fire 64 e=256
pool kernel=3 stride=2 ceil=on                                          # 13
fire 64 e=256
dropout 0.5; conv classes kernel=1 bn=off; gap; flatten
