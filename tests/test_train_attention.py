"""Occlusion attention maps (the paper's Fig. 6-7) on a stand-in network whose dependencies are known."""
import numpy as np
import pytest

from mgdsl.train import attention as A


def test_probes_sit_on_the_box():
    pts = A.probes((10, 20, 40, 50))
    assert len(pts) == 7 and pts[0] == (25, 35)
    assert all(x == 20 for _, x in pts[1:4]) and all(x == 50 for _, x in pts[4:])
    assert all(10 <= y <= 40 for y, _ in pts)


def test_identity_network_attends_to_the_probe_itself():
    # output pixel = input pixel: a probe can only be moved by occluders that cover it
    image = np.zeros((32, 32), np.float32)
    image[8:24, 10:22] = 1.0
    maps, out, box, centres = A.occlusion_maps(lambda x: x[:, 0], image, seed=1)
    assert box == (8, 10, 23, 21) and maps.shape == (7, 32, 32)
    for m, (y, x) in zip(maps, centres):
        ys, xs = np.nonzero(m)
        assert len(ys)                                            # something mattered
        # every influential occluder overlapped the 3x3 probe: within 8 + 1 px of its centre
        assert np.abs(ys - y).max() <= A.OCCLUDER + 1 and np.abs(xs - x).max() <= A.OCCLUDER + 1
    levels = A.quantise(maps)
    assert set(np.unique(levels)) <= {i / A.LEVELS for i in range(A.LEVELS + 1)}
    assert levels.reshape(7, -1).max(axis=1).tolist() == [1.0] * 7


def test_blank_prediction_is_a_clear_error():
    from mgdsl.errors import UsageError
    with pytest.raises(UsageError, match="no digit"):
        A.occlusion_maps(lambda x: x[:, 0] * 0, np.ones((16, 16), np.float32))


def test_attention_command(tmp_path, capsys):
    from mgdsl.cli import main
    spec = tmp_path / "spt.mg"
    spec.write_text('network "T" (w = 4, canvas = 16)\ninput 1 @ canvas\nconv w\nmaps 1 kernel=3\n')
    run = tmp_path / "run"
    assert main(["train", str(spec), "--task", "mnist-tra", "--steps", "2", "--batch-size", "4", "--no-progress",
                 "--train-size", "8", "--test-size", "4", "--out", str(run)]) == 0
    rc = main(["attention", str(run), "--image", "1", "-o", str(tmp_path / "att.png")])
    err = capsys.readouterr().err
    # a barely trained net may predict nothing: then a clean error, never a traceback
    assert rc == 0 and (tmp_path / "att.png").stat().st_size > 0 or (rc == 1 and "no digit" in err)
    assert main(["attention", str(run), "--image", "99", "-o", str(tmp_path / "x.png")]) == 1
