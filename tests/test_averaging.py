"""Weight averaging (onethinker.models.averaging, `onethinker model average`, RL's run.average_last): the
output is the element-wise mean, keeps dtypes and the last folder's other files, and refuses folders that
are not checkpoints of one model, naming the folder and tensor."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from onethinker.cli import main
from onethinker.models.averaging import average_checkpoints
from onethinker.rl.config import RLRunConfig


def folder(path, scale, *, extra=None, step=0):
    path.mkdir(parents=True)
    tensors = {"w": torch.full((2, 3), float(scale)), "h": torch.full((4,), float(scale), dtype=torch.bfloat16),
               "ids": torch.arange(3)}
    tensors.update(extra or {})
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})
    (path / "config.json").write_text(json.dumps({"step": step}))
    (path / "optim.pt").write_bytes(b"optimiser state")
    (path / "trainer_state.json").write_text("{}")
    return path


def test_mean_of_three_keeps_dtypes_and_the_last_folders_files(tmp_path):
    dirs = [folder(tmp_path / f"step-{i}", s, step=i) for i, s in enumerate((1.0, 2.0, 6.0))]
    out = average_checkpoints(dirs, tmp_path / "final")
    w = load_file(str(out / "model.safetensors"))
    assert torch.equal(w["w"], torch.full((2, 3), 3.0)) and w["h"].dtype == torch.bfloat16
    assert torch.equal(w["h"], torch.full((4,), 3.0, dtype=torch.bfloat16)) and torch.equal(w["ids"], torch.arange(3))
    assert json.loads((out / "config.json").read_text()) == {"step": 2}  # the last checkpoint's
    assert not (out / "optim.pt").exists() and not (out / "trainer_state.json").exists()
    assert json.loads((out / "averaged_from.json").read_text())["folders"] == [str(d) for d in dirs]
    again = average_checkpoints(dirs[:1], out)  # replaces the folder; one input copies it
    assert torch.equal(load_file(str(again / "model.safetensors"))["w"], torch.full((2, 3), 1.0))
    assert not (tmp_path / "final.tmp").exists()


@pytest.mark.parametrize("extra, words", [
    ({"w": torch.zeros(3, 2)}, "tensor w is"),             # another shape
    ({"ids": torch.arange(3) + 1}, "cannot be averaged"),  # integer tensors must agree
    ({"more": torch.zeros(1)}, "tensor names differ"),
])
def test_refuses_folders_of_other_models(tmp_path, extra, words):
    a = folder(tmp_path / "a", 1.0)
    b = folder(tmp_path / "b", 2.0, extra=extra)
    with pytest.raises(ValueError, match=words) as e:
        average_checkpoints([a, b], tmp_path / "out")
    assert str(b) in str(e.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.tmp").exists()


def test_refuses_a_folder_without_weights_and_an_output_among_the_inputs(tmp_path):
    a = folder(tmp_path / "a", 1.0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no \\*.safetensors"):
        average_checkpoints([a, tmp_path / "empty"], tmp_path / "out")
    with pytest.raises(ValueError, match="is one of the inputs"):
        average_checkpoints([a], a)


def test_command(tmp_path, capsys):
    a, b = folder(tmp_path / "a", 1.0), folder(tmp_path / "b", 3.0)
    assert main(["model", "average", str(a), str(b), "--out", str(tmp_path / "avg")]) == 0
    assert torch.equal(load_file(str(tmp_path / "avg" / "model.safetensors"))["w"], torch.full((2, 3), 2.0))
    assert main(["model", "average", str(a), str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "missing: no such model folder" in capsys.readouterr().err


def test_run_config_checks_the_checkpoints_exist():
    RLRunConfig(max_steps=40, save_every=10, keep_checkpoints=2, average_last=2)  # steps 30 and 40
    with pytest.raises(ValueError, match="keep_checkpoints"):
        RLRunConfig(max_steps=40, save_every=10, keep_checkpoints=1, average_last=2)
    with pytest.raises(ValueError, match="average_last"):
        RLRunConfig(max_steps=40, save_every=0, keep_checkpoints=3, average_last=2)  # only the last step is saved
    with pytest.raises(ValueError, match="average_last"):
        RLRunConfig(max_steps=5, save_every=10, keep_checkpoints=3, average_last=2)
    with pytest.raises(ValueError, match="average_last must be >= 1"):
        RLRunConfig(average_last=0)
