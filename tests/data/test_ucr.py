"""UCR/UEA ``.arff`` and ``TRAIN``/``TEST`` text readers, against hand-written expectations, sktime's own
files (the ``.ts`` and ``.tsv`` copies of one data set) and pandas."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.errors import DataFileError
from rnnkit.data.tsfile import read_ts_file
from rnnkit.data.ucr import read_arff_file, read_ucr_text_file

SKTIME = Path(list(importlib.util.find_spec("sktime").submodule_search_locations)[0]) / "datasets" / "data"

UNI = """% a comment
@relation toy
@attribute att1 numeric
@attribute att2 numeric
@attribute 'att 3' real
@attribute target {a,'b'}
@data
1.5,2,-3e-1,a
% another comment
4,?,6,'b'
"""

MULTI = """@relation motions
@attribute relationalAtt relational
  @attribute t1 numeric
  @attribute t2 numeric
  @attribute t3 numeric
@end relationalAtt
@attribute activity {standing,running}
@data
'1,2,3\\n4,5,6',standing
"7,8,9\\n10,11,?",running
"""


def test_arff_univariate_and_multivariate(tmp_path):
    (tmp_path / "u.arff").write_text(UNI, encoding="utf-8")
    seqs, labels = read_arff_file(tmp_path / "u.arff")
    assert labels.tolist() == ["a", "b"]
    np.testing.assert_array_equal(seqs[0], np.array([[1.5], [2.0], [-0.3]], np.float32))
    assert seqs[1].shape == (3, 1) and np.isnan(seqs[1][1, 0]) and seqs[1][2, 0] == 6
    (tmp_path / "m.arff").write_text(MULTI, encoding="utf-8")
    seqs, labels = read_arff_file(tmp_path / "m.arff")
    assert labels.tolist() == ["standing", "running"]
    np.testing.assert_array_equal(seqs[0], np.array([[1, 4], [2, 5], [3, 6]], np.float32))  # (T, C)
    assert seqs[1].shape == (3, 2) and np.isnan(seqs[1][2, 1])


def test_arff_unlabelled_and_errors(tmp_path):
    (tmp_path / "n.arff").write_text("@relation x\n@attribute a numeric\n@attribute b numeric\n@data\n1,2\n3,4\n")
    seqs, labels = read_arff_file(tmp_path / "n.arff")
    assert labels is None and [s[:, 0].tolist() for s in seqs] == [[1, 2], [3, 4]]
    (tmp_path / "bad.arff").write_text(UNI.replace("4,?,6,'b'", "4,x,6,b"))
    with pytest.raises(DataFileError, match=r"bad.arff, line 10: a value is not a number"):
        read_arff_file(tmp_path / "bad.arff")
    with pytest.raises(DataFileError, match="too much of the file is bad"):  # 1 of 2 cases: past the 10% bound
        read_arff_file(tmp_path / "bad.arff", skip_bad=True)
    with pytest.warns(UserWarning, match="skipped 1 bad rows"):
        seqs, labels = read_arff_file(tmp_path / "bad.arff", skip_bad=True, max_skipped_share=1.0)
    assert labels.tolist() == ["a"]
    (tmp_path / "lab.arff").write_text(UNI.replace("4,?,6,'b'", "4,5,6,c"))
    with pytest.raises(DataFileError, match=r"line 10: label 'c' is not one of the declared classes \['a', 'b'\]"):
        read_arff_file(tmp_path / "lab.arff")
    (tmp_path / "str.arff").write_text("@relation x\n@attribute a string\n@data\nq\n")
    with pytest.raises(DataFileError, match=r"line 2: attribute type 'string' is not supported"):
        read_arff_file(tmp_path / "str.arff")
    (tmp_path / "nodata.arff").write_text("@relation x\n@attribute a numeric\n")
    with pytest.raises(DataFileError, match="no '@data' line"):
        read_arff_file(tmp_path / "nodata.arff")


@pytest.mark.parametrize("sep", [" ", "\t", ",", "  \t "])
def test_ucr_text_separators_labels_and_nan_padding(tmp_path, sep):
    rows = [["1.0000000e+00", "0.5", "1", "2"], ["2", "3", "NaN", "4"], ["-1", "7", "8", "NaN", "NaN"]]
    (tmp_path / "x_TRAIN.txt").write_text("\n".join(sep.join(r) for r in rows) + "\n")
    seqs, labels = read_ucr_text_file(tmp_path / "x_TRAIN.txt")
    assert labels.tolist() == ["1", "2", "-1"]
    assert seqs[0][:, 0].tolist() == [0.5, 1, 2]
    assert np.isnan(seqs[1][1, 0]) and len(seqs[1]) == 3  # an inner gap stays (missing)
    assert seqs[2][:, 0].tolist() == [7, 8]  # trailing NaN: the 2018 archive's padding, not steps


def test_ucr_text_errors(tmp_path):
    (tmp_path / "e.txt").write_text("1 2 3\n2 x 4\n")
    with pytest.raises(DataFileError, match=r"e.txt, line 2: value 'x' is not a number"):
        read_ucr_text_file(tmp_path / "e.txt")
    (tmp_path / "one.txt").write_text("1\n")
    with pytest.raises(DataFileError, match="line 1: expected a label and at least one value"):
        read_ucr_text_file(tmp_path / "one.txt")


def test_sktime_arrowhead_tsv_equals_its_ts_file_and_pandas():
    tsv = SKTIME / "ArrowHead" / "ArrowHead_TRAIN.tsv"
    seqs, labels = read_ucr_text_file(tsv)
    ref_seqs, ref_labels = read_ts_file(SKTIME / "ArrowHead" / "ArrowHead_TRAIN.ts")
    assert labels.tolist() == ref_labels.tolist() and len(seqs) == 36
    np.testing.assert_allclose(np.stack(seqs), np.stack(ref_seqs), rtol=1e-6, atol=1e-6)
    frame = pd.read_csv(tsv, sep="\t", header=None)
    np.testing.assert_allclose(np.stack(seqs)[:, :, 0], frame.iloc[:, 1:].to_numpy(), rtol=1e-6)
