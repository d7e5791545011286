"""Results as DICOM objects a PACS opens: SEG for masks, a TID 1500 SR for answers, a Secondary Capture overlay.

Each object is built with highdicom from the source image's (de-identified) dataset, so it
belongs to the source's study, in a series of its own, and references the source by the same
UIDs the de-identified copy has (:mod:`desktop.engine.dicom_deid`). Every object says it is
not for diagnostic use (SeriesDescription, and the SEG's ContentLabel/ContentDescription and
the Secondary Capture's ImageComments) and names the model (file name, version, SHA-256):

segmentation  DICOM SEG, BINARY: one segment per class present, highdicom's
              AlgorithmIdentificationSequence on each (family: Artificial Intelligence).
report        Comprehensive 3D SR, TID 1500 Measurement Report: the model is the observer
              device; a classification is a QualitativeEvaluation (Classification = label) with its
              scores; a regression's values and a segmenter's areas are measurements; each
              detection is a planar ROI measurement group whose region is a closed POLYLINE
              (SCOORD) on the source image.
secondary     Secondary Capture (highdicom.sc.SCImage), RGB: the image as the window shows it
              with the answer burnt in: the label and score along the top, boxes, masks tinted.

Labels are the model's, not a standard terminology: they are coded in the private scheme
``99INFERDESK`` (PS3.16 8.2 allows a scheme designator starting with ``99``), code value the
class index. highdicom is imported when an object is made, not by scoring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .palette import PALETTE

NOT_FOR_DIAGNOSIS = "NOT FOR DIAGNOSTIC USE"
SCHEME = "99INFERDESK"
MANUFACTURER = "InferDesk"


@dataclass(frozen=True)
class Algorithm:
    """The model that made the results: its file name, version (the model's, else its producer's) and SHA-256."""

    name: str
    version: str
    sha256: str
    software: str = ""  # the InferDesk version that wrote the object

    def line(self) -> str:
        return f"{self.name} {self.version} sha256:{self.sha256}"


def _hd():
    import highdicom

    return highdicom


def _code(value, meaning: str):
    from pydicom.sr.coding import Code

    return Code(str(value), SCHEME, str(meaning)[:64] or str(value))


def _ucum(unit: str, meaning: str):
    from pydicom.sr.coding import Code

    return Code(unit, "UCUM", meaning)


#: what a de-identified source says of its de-identification (PS3.15 E.3), said again by every object made from it
DEID_RECORD = ("PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
               "LongitudinalTemporalInformationModified")


def _describe(obj, kind: str, sources) -> None:
    """SeriesDescription "InferDesk <kind> (NOT FOR DIAGNOSTIC USE)", and the sources' de-identification record."""
    import copy

    obj.SeriesDescription = f"InferDesk {kind} ({NOT_FOR_DIAGNOSIS})"[:64]
    for keyword in DEID_RECORD:
        if keyword in sources[0]:
            setattr(obj, keyword, copy.deepcopy(sources[0][keyword].value))


# ---------------------------------------------------------------------------------------- SEG
def segmentation(sources: list, label_maps: list, names: list, algorithm: Algorithm, *, background: int | None,
                 series_uid: str, sop_uid: str, series_number: int = 901, frames: list | None = None):
    """A BINARY DICOM SEG of one series: ``label_maps[k]`` (int, the source's rows × columns) over ``sources[k]``.

    ``names[v]`` labels the pixels of value ``v``; ``background`` (or None) is left out. Each
    class present in some map becomes a segment, numbered from 1 in class order; a source
    without any is still referenced. Returns the highdicom Segmentation (a pydicom Dataset).

    With ``frames`` (frame numbers from 1), ``sources`` is one multi-frame image and
    ``label_maps[k]`` is over its frame ``frames[k]``: the SEG holds those frames only, each
    placed at its frame's plane position, so highdicom references the source with that
    ReferencedFrameNumber. highdicom derives a SEG from a multi-frame source only when its SOP
    class is a multi-frame one (Enhanced CT, Enhanced MR...) with a frame of reference.
    """
    hd = _hd()
    from pydicom.sr.codedict import codes

    present = sorted({int(v) for m in label_maps for v in np.unique(m).tolist()} - {background})
    if not present:
        raise ValueError("no segment: every pixel is background")
    lut = np.zeros(max(max(present), int(max(m.max() for m in label_maps))) + 1, dtype=np.uint16)
    for number, value in enumerate(present, 1):
        lut[value] = number
    pixels = np.stack([lut[np.asarray(m, dtype=np.int64)] for m in label_maps]).astype(np.uint16)
    positions = None
    if frames is not None:
        from highdicom.utils import get_plane_positions_of_image, is_multiframe_image

        if len(sources) != 1 or len(frames) != len(label_maps):
            raise ValueError("a SEG of frames is of one multi-frame source, one label map per frame")
        if not is_multiframe_image(sources[0]):
            name = getattr(sources[0].SOPClassUID, "name", sources[0].SOPClassUID)
            raise ValueError(f"its SOP class ({name}) is a single-frame one though the file holds frames, and a "
                             "SEG is made of a multi-frame file only when its class is a multi-frame one "
                             "(Enhanced CT, Enhanced MR...)")
        try:
            every = get_plane_positions_of_image(sources[0])
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise ValueError("a SEG of a multi-frame file places each frame by its position in a frame of reference "
                             f"(the per-frame functional groups), and this file has none ({exc})") from None
        positions = [every[f - 1] for f in frames]
    family = codes.cid7162.ArtificialIntelligence
    algo = hd.AlgorithmIdentificationSequence(name=algorithm.name[:64], family=family, version=algorithm.version[:64],
                                              parameters={"sha256": algorithm.sha256})
    descriptions = []
    for number, value in enumerate(present, 1):
        label = str(names[value]) if value < len(names) else str(value)
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=label[:64],
            segmented_property_category=_code("class", "Model class"),
            segmented_property_type=_code(value, label),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algo))
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=series_uid, series_number=series_number,
        sop_instance_uid=sop_uid, instance_number=1, manufacturer=MANUFACTURER,
        manufacturer_model_name=algorithm.name[:64], software_versions=algorithm.software or "InferDesk",
        device_serial_number=algorithm.sha256[:16], content_label="NOT_FOR_DX",
        content_description=f"{NOT_FOR_DIAGNOSIS}: {algorithm.line()}"[:64], omit_empty_frames=False,
        plane_positions=positions)
    _describe(seg, "SEG", sources)
    return seg


# ---------------------------------------------------------------------------------------- SR
def _image_ref(cls, source, frame: int | None):
    """``cls`` (an SR image content item: SourceImageForMeasurementGroup, SourceImageForRegion) naming
    ``source``, and its frame ``frame`` (from 1) when given. Built from the UIDs rather than with
    ``from_source_image``, which refuses frame numbers for a file whose SOP class is a single-frame
    one though it holds several frames (a CT Image with NumberOfFrames)."""
    return cls(referenced_sop_class_uid=source.SOPClassUID, referenced_sop_instance_uid=source.SOPInstanceUID,
               referenced_frame_numbers=[int(frame)] if frame is not None else None)


def _frame_view(source, frame: int | None):
    """The source as its frame ``frame`` (from 1) sees it (spacing, position and orientation from the functional
    groups at the top level, where the SR's image library reads them); the source itself for None."""
    from .inputs.dicomseries import frame_dataset

    return source if frame is None else frame_dataset(source, frame - 1)


def report(source, result, algorithm: Algorithm, *, series_uid: str, sop_uid: str, observer_uid: str,
           tracking_uids, series_number: int = 902, frame: int | None = None):
    """A Comprehensive 3D SR (TID 1500) of one result over its source image (a Dataset), or over its frame
    ``frame`` (from 1) for a multi-frame source: each group's source image names that ReferencedFrameNumber.

    ``tracking_uids(name)`` gives each measurement group's TrackingIdentifier UID (derived, so a
    second export gives the same). Raises ValueError when the result has nothing to report.
    """
    hd = _hd()
    from pydicom.sr.codedict import codes

    algo = hd.sr.AlgorithmIdentification(name=algorithm.name[:64], version=algorithm.version[:64],
                                         parameters=[f"sha256={algorithm.sha256}", NOT_FOR_DIAGNOSIS])
    observer = hd.sr.ObserverContext(
        observer_type=codes.cid270.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=observer_uid, name=algorithm.name[:64], manufacturer_name=MANUFACTURER,
            model_name=f"{algorithm.name} {algorithm.version}"[:64], serial_number=algorithm.sha256[:16]))
    context = hd.sr.ObservationContext(observer_device_context=observer)
    where = [_image_ref(hd.sr.SourceImageForMeasurementGroup, source, frame)]
    no_units = _ucum("1", "no units")
    groups = []

    def group(name, **kw):
        return hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uids(name), identifier=name[:64]),
            algorithm_id=algo, source_images=where, **kw)

    if result.top:
        best = result.top[0]
        groups.append(group("classification", finding_type=_code(best.index, best.label),
                            qualitative_evaluations=[hd.sr.QualitativeEvaluation(
                                name=codes.SCT.Classification, value=_code(best.index, best.label))],
                            measurements=[hd.sr.Measurement(name=_code(f"score-{p.index}", f"Score of {p.label}"),
                                                            value=float(p.score), unit=no_units)
                                          for p in result.top]))
    if result.values:
        groups.append(group("regression", measurements=[
            hd.sr.Measurement(name=_code(f"value-{j}", f"Model value {j + 1}"), value=float(v), unit=no_units)
            for j, v in enumerate(result.values)]))
    for label, area in (result.areas() or {}).items():
        if label.lower() in ("background", "__background__", "bg"):
            continue
        mm2 = area.get("mm2")
        value, unit = (mm2, _ucum("mm2", "square millimeter")) if mm2 is not None else \
            (area["pixels"], _ucum("{pixels}", "pixels"))
        groups.append(group(f"area {label}", finding_type=_code(label, label), measurements=[
            hd.sr.Measurement(name=codes.SCT.Area, value=float(value), unit=unit)]))
    rows, cols = int(source.Rows), int(source.Columns)
    for k, det in enumerate(result.detections):
        x1, y1, x2, y2 = (float(v) for v in det.box)
        x1, x2 = (min(max(v, 0.0), cols) for v in (x1, x2))
        y1, y2 = (min(max(v, 0.0), rows) for v in (y1, y2))
        polyline = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]], dtype=np.float32)
        region = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=polyline,
                                   source_image=_image_ref(hd.sr.SourceImageForRegion, source, frame))
        name = f"detection {k + 1}"
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uids(name), identifier=name),
            referenced_region=region, finding_type=_code(det.index, det.label), algorithm_id=algo,
            measurements=[hd.sr.Measurement(name=_code(f"score-{det.index}", f"Score of {det.label}"),
                                            value=float(det.score), unit=no_units)]))
    if not groups:
        raise ValueError("nothing to report: the result has no label, value, area or detection")
    content = hd.sr.MeasurementReport(observation_context=context, procedure_reported=codes.SCT.ImagingProcedure,
                                      imaging_measurements=groups, title=codes.cid7021.ImagingMeasurementReport,
                                      referenced_images=[_frame_view(source, frame)])
    sr = hd.sr.Comprehensive3DSR(evidence=[source], content=content, series_instance_uid=series_uid,
                                 series_number=series_number, sop_instance_uid=sop_uid, instance_number=1,
                                 manufacturer=MANUFACTURER, is_complete=True)
    _describe(sr, "SR", [source])
    return sr


# ---------------------------------------------------------------------------------------- SC
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType: its small bitmap font
        return ImageFont.load_default()


def overlay_rgb(image, result, conf: float | None = None) -> np.ndarray:
    """The image (PIL, L/F/RGB) as RGB uint8 with the result drawn on it: masks tinted in the class colours,
    boxes with their label and score, and the answer ("label 0.97") with NOT FOR DIAGNOSTIC USE along the top."""
    from PIL import Image, ImageDraw

    if image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), mode="L")
    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    got = result.label_map(conf) if result.masks is not None else None
    if got is not None:
        label_map, names = got
        from .maskwriters import background_value

        clear = background_value(result.masks.kind or "", names)
        shift = 1 if result.masks.kind == "instance" else 0
        for v in np.unique(label_map).tolist():
            if v == clear:
                continue
            rgb = np.array([int(PALETTE[(v - shift) % len(PALETTE)][i:i + 2], 16) for i in (0, 2, 4)], np.float32)
            where = label_map == v
            base[where] = base[where] * 0.55 + rgb * 0.45
    out = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(out)
    answer = (f"{result.top[0].label}: {result.top[0].score:.2f}" if result.top else
              ", ".join(f"{v:.4g}" for v in result.values) if result.values else
              f"{len(result.detections)} detections" if result.conf is not None else "")
    if not answer and got is not None:  # a semantic segmenter's: its largest classes' shares of the image
        from .maskwriters import BACKGROUND_NAMES

        shares = sorted(((a["pixels"], label) for label, a in result.areas(conf).items()
                         if str(label).lower() not in BACKGROUND_NAMES), key=lambda t: -t[0])
        answer = ", ".join(f"{label} {100.0 * px / max(label_map.size, 1):.0f}%" for px, label in shares[:3])
    lines = [t for t in (answer, NOT_FOR_DIAGNOSIS) if t]
    size = max(10, min(out.width, out.height) // 16)
    font = _font(size)
    while size > 6 and max(draw.textlength(t, font=font) for t in lines) > out.width - 4:
        size -= 1
        font = _font(size)
    line = max(1, size // 6)
    for det in result.detections_at(conf) if conf is not None else result.detections:
        colour = "#" + PALETTE[det.index % len(PALETTE)]
        x1, y1, x2, y2 = (float(v) for v in det.box)
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=line)
        tag = f"{det.label} {det.score:.2f}"
        x = max(0.0, min(x1 + line, out.width - draw.textlength(tag, font=font) - line))  # kept inside the image
        draw.text((x, max(0.0, y1 - size - line)), tag, fill=colour, font=font)
    text = "\n".join(lines)
    box = draw.multiline_textbbox((line, line), text, font=font)
    draw.rectangle([0, 0, min(out.width - 1, box[2] + line), box[3] + line], fill="black")
    draw.multiline_text((line, line), text, fill="yellow", font=font)
    return np.asarray(out, dtype=np.uint8)


def patient_orientation(ds) -> tuple | None:
    """The rows' and columns' directions as PatientOrientation letters (the dominant axis of ImageOrientationPatient:
    L, R, P, A, H, F), else the source's own PatientOrientation when it is two such letters; None when unknown."""
    letters = ((("R", "L"), ("A", "P"), ("F", "H")))
    try:
        cosines = [float(v) for v in ds.get("ImageOrientationPatient") or ()]
    except (TypeError, ValueError):
        cosines = []
    if len(cosines) == 6:
        out = []
        for vector in (cosines[:3], cosines[3:]):
            axis = int(np.argmax(np.abs(vector)))
            out.append(letters[axis][1 if vector[axis] > 0 else 0])
        return tuple(out)
    given = [str(v).strip().upper() for v in (ds.get("PatientOrientation") or ())]
    if len(given) == 2 and all(g in "LRAPHF" and len(g) == 1 for g in given):
        return tuple(given)
    return None


def secondary_capture(source, pixels: np.ndarray, algorithm: Algorithm, *, series_uid: str, sop_uid: str,
                      series_number: int = 903, frame: int | None = None):
    """A Secondary Capture (RGB, 8 bits) of ``pixels`` (rows × columns × 3, uint8) in the source's study,
    referencing the source in its SourceImageSequence; BurnedInAnnotation YES (the answer is in the pixels).

    For a frame ``frame`` (from 1) of a multi-frame source, the reference names it
    (ReferencedFrameNumber) and the spacing and orientation are that frame's (its functional groups).
    """
    hd = _hd()
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    view = _frame_view(source, frame)
    spacing = view.get("PixelSpacing")
    orientation = patient_orientation(view)
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source, pixel_array=np.ascontiguousarray(pixels), photometric_interpretation="RGB",
        bits_allocated=8, coordinate_system="PATIENT", series_instance_uid=series_uid, series_number=series_number,
        sop_instance_uid=sop_uid, instance_number=1, manufacturer=MANUFACTURER,
        pixel_spacing=tuple(float(v) for v in spacing) if spacing and len(spacing) == 2 else None,
        patient_orientation=orientation or ("L", "P"), transfer_syntax_uid="1.2.840.10008.1.2.1")
    if orientation is None:
        sc.PatientOrientation = ""  # unknown (Type 2): highdicom needs a value to start from, this one says nothing
    _describe(sc, "Secondary Capture", [source])
    sc.ImageComments = f"{NOT_FOR_DIAGNOSIS}. Results of {algorithm.line()}"[:10240]
    sc.BurnedInAnnotation = "YES"
    sc.DerivationDescription = f"InferDesk overlay of the model's results ({NOT_FOR_DIAGNOSIS})"[:1024]
    ref = Dataset()
    ref.ReferencedSOPClassUID = source.SOPClassUID
    ref.ReferencedSOPInstanceUID = source.SOPInstanceUID
    if frame is not None:
        ref.ReferencedFrameNumber = int(frame)
    sc.SourceImageSequence = Sequence([ref])
    return sc
