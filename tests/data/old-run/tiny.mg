network "TINY-SEG" (w = 4, maps = 10, canvas = 16)
input 1 @ canvas
grids 2
conv w, w/2
mgconv
drop
maps maps kernel=3
