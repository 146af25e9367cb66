# The prelude: composite units every spec can use. They are written in the language itself, so a
# spec can define its own units the same way (a unit body sees its parameters and `in`, its input).

# Basic residual unit (He et al.), per grid: conv-BN-ReLU, conv-BN, add the input, ReLU.
# The shortcut zero-pads channels where the width grows (type A) or projects with shortcut=proj.
unit res(widths = same, kernel = 3, stride = 1, shortcut = pad, bias = on):
    conv widths kernel=kernel stride=stride bias=bias
    conv widths kernel=kernel relu=off bias=bias
    add in shortcut=shortcut
    relu

# Residual multigrid unit (paper Fig. 2, right): two mg-convs acting jointly on the pyramid.
unit resmg(widths = same, kernel = 3, shortcut = pad):
    mgconv widths kernel=kernel
    mgconv widths kernel=kernel relu=off
    add in shortcut=shortcut
    relu
