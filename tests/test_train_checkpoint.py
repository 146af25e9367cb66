"""Reading weights out of the training room (`mgdsl.train.checkpoint.read_weights`, behind `mgdsl export
--weights`)."""
from __future__ import annotations

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
