"""rnnkit.export: the traceable runner, export mode, and the three file formats.

Every exported artefact is run on inputs whose lengths (and batch size, and
where the format allows it, T) differ from the example it was traced with,
and compared with the eager model (<= 1e-5).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils._pytree import tree_leaves

from rnnkit.cells import (
    ElmanCell,
    GRUCell,
    IndRNNCell,
    LayerNormLSTMCell,
    LSTMCell,
    MinGRUCell,
)
from rnnkit.export import export_model, export_run, prepare_for_export, traceable_unroll
from rnnkit.layers import Bidirectional, Recurrent, Stacked
from rnnkit.unroll import unroll
from rnnkit.wrappers import Dropout, Zoneout
from tests.contract import manual_loop

TOL = 1e-5


def max_diff(a, b) -> float:
    la, lb = tree_leaves(a), tree_leaves(b)
    assert len(la) == len(lb)
    return max(float((torch.as_tensor(x) - torch.as_tensor(y)).abs().max()) for x, y in zip(la, lb))


CELLS = {
    "lstm_proj_peep": lambda: LSTMCell(3, 6, proj_size=4, use_peepholes=True, forget_bias=1.0, cell_clip=2.0),
    "gru_reset_before": lambda: GRUCell(3, 5, reset_after=False),
    "elman_relu": lambda: ElmanCell(3, 5, nonlinearity="relu"),
    "layernorm_lstm": lambda: LayerNormLSTMCell(3, 5),
    "indrnn": lambda: IndRNNCell(3, 5),
    "mingru": lambda: MinGRUCell(3, 5),
    "dropout_variational": lambda: Dropout(LSTMCell(3, 5), output_dropout=0.3, state_dropout=0.2,
                                           variational=True),
    "zoneout": lambda: Zoneout(GRUCell(3, 5), h=0.2),
}


# "scan" in eager mode runs through torch.compile (seconds per call): it is tested once here and
# through torch.export / ONNX below, where it is used
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_traceable_unroll_equals_per_sequence_loop(name: str, reverse: bool) -> None:
    style = "loop"
    torch.manual_seed(0)
    cell = CELLS[name]().double().eval()
    x = torch.randn(6, 4, 3, dtype=torch.float64)
    lengths = [6, 0, 3, 1]
    out, final = traceable_unroll(cell, x, None, torch.tensor(lengths), reverse, style=style)
    ref_out, ref_final = manual_loop(cell, x, lengths=lengths, reverse=reverse)
    assert max_diff(out, ref_out) < 1e-12
    assert max_diff(final, ref_final) < 1e-12
    assert float(out[3:, 2].abs().max()) == 0.0  # exactly zero past the length


@pytest.mark.parametrize("style", ["loop", "scan"])
def test_traceable_unroll_with_state_and_no_lengths_equals_unroll(style: str) -> None:
    """Without lengths an LSTM's output is its h: the scan must not return aliased tensors."""
    torch.manual_seed(1)
    cell = LSTMCell(3, 5).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    state = tuple(torch.randn(2, 5, dtype=torch.float64) for _ in range(2))
    from rnnkit.state import LSTMState

    state = LSTMState(*state)
    out, final = traceable_unroll(cell, x, state, None, False, style=style)
    ref = unroll(cell, x, state)
    assert max_diff((out, final), ref) < 1e-12


class SeqModel(nn.Module):
    """Batch-first: a bidirectional LSTM layer under a GRU layer, a linear head per step."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = Stacked([Bidirectional(LSTMCell(3, 4), LSTMCell(3, 4)), Recurrent(GRUCell(8, 5))],
                           batch_first=True, dropout=0.5)
        self.head = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        out, state = self.rnn(x, lengths=lengths)
        return self.head(out), state


def _inputs(B: int, T: int, lengths: list, seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, 3, generator=g), torch.tensor(lengths)


def test_prepare_for_export_copies_and_matches_eager() -> None:
    torch.manual_seed(0)
    model = SeqModel().train()
    prepared = prepare_for_export(model, style="loop")
    assert model.training and not prepared.training  # the original is untouched
    assert type(model.rnn.layers[1]) is Recurrent and type(prepared.rnn.layers[1]) is not Recurrent
    assert isinstance(prepared.rnn.layers[1], Recurrent)
    model.eval()
    x, lengths = _inputs(4, 7, [7, 0, 3, 5], 1)
    assert max_diff(prepared(x, lengths), model(x, lengths)) < 1e-6


def test_prepare_for_export_checks_lengths_statically() -> None:
    prepared = prepare_for_export(SeqModel(), style="loop")
    x, _ = _inputs(2, 4, [4, 4], 0)
    with pytest.raises(TypeError, match=r"Stacked: lengths must be an integer tensor, got dtype torch.float32"):
        prepared(x, torch.tensor([4.0, 2.0]))
    with pytest.raises(ValueError, match=r"Stacked: lengths must be of shape \(2,\), one length per sequence, got \(3,\)"):
        prepared(x, torch.tensor([4, 2, 1]))


@pytest.fixture(scope="module")
def seq_model() -> SeqModel:
    torch.manual_seed(0)
    return SeqModel().eval()


def test_torchscript_dynamic_batch_and_lengths(seq_model: SeqModel, tmp_path: Path) -> None:
    x, lengths = _inputs(3, 6, [6, 2, 4], 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = export_model(seq_model, (x, lengths), tmp_path / "m.pt", "torchscript")
    assert info.input_names == ["x", "lengths"] and info.fixed_time == 6
    # layer 0 is Bidirectional(LSTM, LSTM): (h, c) per direction; layer 1 a GRU: h
    assert info.output_names == ["output", "h_n_0_0", "c_n_0_0", "h_n_0_1", "c_n_0_1", "h_n_1"]
    loaded = torch.jit.load(str(info.path))
    for B, lens, seed in ((5, [1, 6, 0, 3, 5], 2), (2, [6, 6], 3)):
        x2, l2 = _inputs(B, 6, lens, seed)
        assert max_diff(loaded(x2, l2), seq_model(x2, l2)) < TOL
    for T in (60, 3):  # another T is refused, naming both (it came back cut to 6 steps, or crashed, before)
        x2, l2 = _inputs(2, T, [T, 1], 4)
        with pytest.raises(Exception, match=f"traced for T = 6 time steps .* cannot run T = {T}"):
            loaded(x2, l2)


def test_exported_program_dynamic_batch_time_and_lengths(seq_model: SeqModel, tmp_path: Path) -> None:
    x, lengths = _inputs(3, 6, [6, 2, 4], 0)
    info = export_model(seq_model, (x, lengths), tmp_path / "m.pt2", "exported")
    assert info.dynamic == {"x": {0: "batch", 1: "time"}, "lengths": {0: "batch"}}
    loaded = torch.export.load(str(info.path)).module()
    for B, T, lens, seed in ((5, 9, [9, 1, 0, 5, 7], 4), (2, 3, [3, 2], 5)):
        x2, l2 = _inputs(B, T, lens, seed)
        assert max_diff(loaded(x2, l2), seq_model(x2, l2)) < TOL


def test_onnx_runs_in_onnxruntime_with_other_batch_time_and_lengths(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    torch.manual_seed(3)
    wrapped = Dropout(LSTMCell(3, 6, proj_size=4), output_dropout=0.3, variational=True)  # nested state
    model = Stacked([wrapped, Bidirectional(GRUCell(4, 3), GRUCell(4, 3))], batch_first=True).eval()
    x, lengths = _inputs(3, 5, [5, 2, 4], 0)
    info = export_model(model, (x,), tmp_path / "m.onnx", "onnx", example_kwargs={"lengths": lengths})
    assert info.input_names == ["inputs", "lengths"]
    session = ort.InferenceSession(str(info.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["inputs", "lengths"]
    # layer 0: Dropout(LSTM) state (its LSTMState in .state, its masks), layer 1 Bidirectional GRU
    assert [o.name for o in session.get_outputs()] == info.output_names
    assert info.output_names[0] == "output" and "h_n_1_0" in info.output_names and "h_n_1_1" in info.output_names
    for B, T, lens, seed in ((4, 8, [8, 0, 3, 6], 6), (2, 3, [1, 3], 7)):
        x2, l2 = _inputs(B, T, lens, seed)
        got = session.run(None, {"inputs": x2.numpy(), "lengths": l2.numpy()})
        with torch.no_grad():
            want = model(x2, lengths=l2)
        assert max_diff(got, want) < TOL


def test_dropin_lstm_exports_with_lengths(tmp_path: Path) -> None:
    from rnnkit.dropin import LSTM

    torch.manual_seed(4)
    model = LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True).eval()
    x, lengths = _inputs(3, 6, [6, 2, 4], 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = export_model(model, (x,), tmp_path / "lstm.pt", "torchscript", example_kwargs={"lengths": lengths})
    assert info.input_names == ["input", "lengths"] and info.output_names == ["output", "h_n", "c_n"]
    loaded = torch.jit.load(str(info.path))
    x2, l2 = _inputs(4, 6, [6, 0, 3, 1], 8)
    with torch.no_grad():
        assert max_diff(loaded(x2, l2), model(x2, lengths=l2)) < TOL
        # and the reference semantics hold: nn.LSTM on a packed batch (lengths >= 1)
        ref = nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)
        ref.load_state_dict(model.state_dict())
        packed = nn.utils.rnn.pack_padded_sequence(x2[[0, 2, 3]], l2[[0, 2, 3]], batch_first=True,
                                                   enforce_sorted=False)
        ref_out, _ = nn.utils.rnn.pad_packed_sequence(ref(packed)[0], batch_first=True, total_length=6)
    assert max_diff(loaded(x2, l2)[0][[0, 2, 3]], ref_out) < TOL


def test_export_model_errors(seq_model: SeqModel, tmp_path: Path) -> None:
    x, lengths = _inputs(3, 6, [6, 2, 4], 0)
    with pytest.raises(ValueError, match=r"export_model: format must be one of 'onnx', 'torchscript', 'exported', "
                                         r"got 'tflite'"):
        export_model(seq_model, (x, lengths), tmp_path / "m", "tflite")
    with pytest.raises(TypeError, match=r"export_model: example_inputs must be a tuple of tensors, got Tensor"):
        export_model(seq_model, x, tmp_path / "m.pt", "torchscript")
    with pytest.raises(ValueError, match=r"export_model: dynamic must be keyed by input names \(x, lengths\), "
                                         r"got 'y'"):
        export_model(seq_model, (x, lengths), tmp_path / "m.pt2", "exported", dynamic={"y": {0: "batch"}})
    with pytest.raises(ValueError, match=r"export_model: path must be a file name ending in .pt2 for "
                                         r"format='exported'"):
        export_model(seq_model, (x, lengths), tmp_path / "m.pt", "exported")
    x1, l1 = _inputs(1, 6, [6], 0)
    with pytest.raises(ValueError, match=r"example input 'x' must be of size >= 2 along its dynamic batch dim 0"):
        export_model(seq_model, (x1, l1), tmp_path / "m.pt2", "exported")


def test_export_run_of_a_trained_sincos_run(tmp_path: Path) -> None:
    from rnnkit.recipes.sincos import SinCos
    from rnnkit.train import rundir
    from rnnkit.train.loop import Trainer

    cfg = SinCos.Config(tiny=True, epochs=1, max_steps=2, progress=False, hidden_size=6, window=5,
                        run_dir=str(tmp_path / "run"))
    Trainer(SinCos(cfg), tmp_path / "run", log=lambda *a: None).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = export_run(tmp_path / "run", "torchscript")
    assert info.path == tmp_path / "run" / "model.pt" and info.path.is_file()
    model, _ = rundir.load_weights(rundir.open_recipe(tmp_path / "run"), tmp_path / "run")
    loaded = torch.jit.load(str(info.path))
    x = torch.randn(3, 5, 1, generator=torch.Generator().manual_seed(9))
    lengths = torch.tensor([5, 1, 3])
    with torch.no_grad():
        assert max_diff(loaded(x, lengths), model(x, lengths)) < TOL


def test_docs_export_md_examples_run_and_print_what_they_say(tmp_path: Path, monkeypatch, capsys) -> None:
    """Every Python block of docs/export.md runs as a complete program; the names and shapes it prints hold."""
    import re

    pytest.importorskip("onnxruntime")
    text = (Path(__file__).resolve().parents[1] / "docs" / "export.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(block, "docs/export.md", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "['inputs', 'lengths'] ['output', 'h_n', 'c_n']"
    assert out[1] == "(4, 9, 8) (4, 8)"
    assert out[2] == "torch.Size([4, 9, 8]) torch.Size([4, 8])"
    assert "traced for T = 5 time steps" in out[3] and "cannot run T = 9" in out[3]
