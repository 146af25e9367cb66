"""Reading weights out of the training room (`mgdsl.train.checkpoint.read_weights`, behind `mgdsl export
--weights`) and the bounds on what a run folder may hand the training commands."""
from __future__ import annotations

import json

import pytest
import torch

import mgdsl
from mgdsl.cli import main
from mgdsl.errors import UsageError
from mgdsl.train import checkpoint as ckpt

NO_PARAMS = 'network "N"\ninput 3 @ 8x8\nact tanh\n'


def test_an_empty_state_dict_is_the_whole_state_of_a_network_without_parameters(tmp_path, capsys):
    spec = tmp_path / "n.mg"
    spec.write_text(NO_PARAMS)
    assert mgdsl.load(str(spec)).num_params == 0
    torch.save({}, tmp_path / "w.pt")
    assert ckpt.read_weights(tmp_path / "w.pt") == ({}, None)
    out = tmp_path / "n.pt2"
    assert main(["export", str(spec), "-o", str(out), "--weights", str(tmp_path / "w.pt")]) == 0
    assert "weights from" in capsys.readouterr().out and out.stat().st_size > 0
    # a network that has parameters is still told which ones the empty file lacks
    other = tmp_path / "p.mg"
    other.write_text('network "P"\ninput 3 @ 8x8\nconv 4\n')
    assert main(["export", str(other), "-o", str(tmp_path / "p.pt2"), "--weights", str(tmp_path / "w.pt")]) == 1
    assert "missing" in capsys.readouterr().err


def test_export_reads_weights_through_the_training_room():
    from mgdsl.backends import export as E
    assert E.read_weights is ckpt.read_weights


def test_read_weights_refuses_what_is_not_a_state_dict(tmp_path):
    torch.save({"lr": 0.1}, tmp_path / "cfg.pt")
    with pytest.raises(UsageError, match="neither a state_dict nor"):
        ckpt.read_weights(tmp_path / "cfg.pt")
    torch.save([torch.ones(2)], tmp_path / "list.pt")
    with pytest.raises(UsageError, match="neither a state_dict nor"):
        ckpt.read_weights(tmp_path / "list.pt")


def _run_folder(tmp_path, config_text: str | bytes):
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "config.json").write_bytes(config_text if isinstance(config_text, bytes) else config_text.encode())
    return run


@pytest.mark.parametrize("command", ["eval", "attention"])
def test_a_run_folder_with_a_huge_or_broken_config_is_refused(tmp_path, capsys, command):
    extra = ["-o", str(tmp_path / "a.png")] if command == "attention" else []
    cases = {
        b"{" + b" " * (1 << 20) + b"}": "more than the 1 MiB",
        b"\xff\xfe not json": "not readable as JSON",
        b"[1, 2]": "no \"run\" settings",
        b'{"plan": {}}': "no \"run\" settings",
    }
    for text, said in cases.items():
        run = _run_folder(tmp_path, text)
        assert main([command, str(run), *extra]) == 1
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err, err
    (run / "config.json").unlink()
    (run / "config.json").mkdir()
    assert main([command, str(run), *extra]) == 1
    assert "not a regular file" in capsys.readouterr().err


def test_resume_refuses_a_huge_config(tmp_path, capsys):
    spec = tmp_path / "n.mg"
    spec.write_text('network "T" (w = 4, canvas = 16)\ninput 1 @ canvas\nconv w\nmaps 1 kernel=3\n')
    flags = [str(spec), "--task", "mnist-tra", "--steps", "2", "--batch-size", "2", "--train-size", "4",
             "--test-size", "2", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(["train", *flags, "--stop-at", "1"]) == 0
    config = tmp_path / "run" / "config.json"
    saved = json.loads(config.read_text())
    saved["padding"] = "x" * (1 << 20)
    config.write_text(json.dumps(saved))
    assert main(["train", *flags, "--resume"]) == 1
    assert "more than the 1 MiB" in capsys.readouterr().err


def test_a_run_folder_whose_checkpoint_would_run_code_is_refused_without_running_it(tmp_path):
    # resume, eval and attention used to load a run's checkpoint.pt with full unpickling
    import os
    import pickle

    import pytest

    from mgdsl.errors import UsageError
    from mgdsl.train import checkpoint as ckpt
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    torch = pytest.importorskip("torch")
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": {}, "step": 1, "evil": Evil()}, path, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    with pytest.raises(UsageError, match="not loaded"):
        ckpt.load(str(path))
    assert not marker.exists()
