"""The DICOM export's choices: which PS3.15 options the objects keep on top of the Basic Profile."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QLabel, QVBoxLayout

from desktop.engine.dicom_deid import DeidOptions

#: the Export dialogs' DICOM choices (the window's and the History tab's): a folder of objects each
FILTERS = {"DICOM SEG segmentation (folder)": "dicom-seg", "DICOM Structured Report (folder)": "dicom-sr",
           "DICOM Secondary Capture, the results drawn in (folder)": "dicom-sc"}

#: (DeidOptions field, the check box's text, its tooltip)
CHOICES = (
    ("retain_uids", "Keep the study's UIDs, so the objects join the study in the PACS",
     "Retain UIDs Option: the objects reference the source images by their own UIDs; without it the UIDs are "
     "replaced by salted hashes (2.25.…), the same ones in every export from this computer"),
    ("retain_dates", "Keep dates and times", "Retain Longitudinal Temporal Information with Full Dates Option"),
    ("retain_device", "Keep the device's identity (station, serial number)", "Retain Device Identity Option"),
    ("retain_institution", "Keep the institution's name and address", "Retain Institution Identity Option"),
    ("retain_patient_characteristics", "Keep the patient's sex, age, size and weight",
     "Retain Patient Characteristics Option"),
)


class DicomExportOptions(QDialog):
    """Ask what the DICOM objects keep; :meth:`options` gives the DeidOptions chosen."""

    def __init__(self, what: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Export DICOM {what}")
        lay = QVBoxLayout(self)
        intro = QLabel(f"The {what} objects are de-identified by the DICOM PS3.15 Basic Application Level "
                       "Confidentiality Profile: the patient's name, ID and birth date, accession number, "
                       "physicians, institution, device and dates are removed, and private attributes dropped. "
                       "Keep, as the profile's options allow:")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.boxes = {}
        for field, text, tip in CHOICES:
            box = QCheckBox(text)
            box.setToolTip(tip)
            lay.addWidget(box)
            self.boxes[field] = box
        note = QLabel("Text burnt into the pixels (ultrasound, secondary capture…) is not removed: the export "
                      "warns of such images.")
        note.setWordWrap(True)
        lay.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def options(self) -> DeidOptions:
        return DeidOptions(**{field: box.isChecked() for field, box in self.boxes.items()})


def ask_dicom_options(what: str, parent=None) -> DeidOptions | None:
    """The options chosen, or None when the user cancelled."""
    dialog = DicomExportOptions(what, parent)
    return dialog.options() if dialog.exec() == QDialog.Accepted else None
