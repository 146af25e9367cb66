# U-NET-11 for synthetic MNIST (paper Sec. 3.3, Tables 2-3, Fig. 3): one conv per level on
# four levels (widths w..8w), 2x2 transposed convs going up, skips joined by concatenation, and a
# 1x1 conv + BN head giving one logit map per class at full resolution.
network "U-NET" (canvas = 64, w = 64, classes = 10)
input 1 @ canvas

e1 = conv w
pool
e2 = conv 2w
pool
e3 = conv 4w
pool
conv 8w       # the bottom level
upconv 4w
concat e3
conv 4w
upconv 2w
concat e2
conv 2w
upconv w
concat e1
conv w
maps classes  # 1x1 conv + BN, no ReLU (sigmoid in the loss)
