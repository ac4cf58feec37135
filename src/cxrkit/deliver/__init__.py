"""What leaves the process: result folders, PNG / DICOM SR / SC / SEG outputs, batch runs, the PACS worker.

* :mod:`cxrkit.deliver.batch` — resumable, atomic batch runs over files and folders (``cxrkit analyze``).
* :mod:`cxrkit.deliver.outdir` — safe stable output names, the output lock, atomic folder replacement.
* :mod:`cxrkit.deliver.png` — ``write_png``: the displayed image as an 8-bit PNG.
* :mod:`cxrkit.deliver.dicom_out` (+ ``dicom_out_header``) — DICOM SR and Secondary Capture.
* :mod:`cxrkit.deliver.dicom_seg` — masks as DICOM Segmentation.
* :mod:`cxrkit.deliver.pacs` — the Orthanc / DICOMweb worker (``cxrkit pacs watch``).

Submodules are imported on demand (no re-exports): importing ``cxrkit.deliver`` loads nothing heavy.
"""
