"""The detail pane's preview of a colour DICOM shows the colours the model is fed."""

from __future__ import annotations

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.pixels import pixel_array  # noqa: E402

from desktop.engine import InputKind  # noqa: E402
from desktop.runs.preview import load_preview  # noqa: E402


@pytest.mark.parametrize("name", ["examples_ybr_color.dcm", "SC_ybr_full_422_uncompressed.dcm", "examples_rgb_color.dcm"])
def test_colour_dicom_preview_is_pydicoms_rgb(name):
    path = get_testdata_file(name)
    preview = load_preview(path, InputKind.DICOM)
    np.testing.assert_array_equal(preview.pixels, pixel_array(path, index=0, as_rgb=True))
