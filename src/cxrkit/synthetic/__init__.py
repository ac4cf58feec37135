"""Seeded synthetic chest-radiograph-like images and DICOM files, for tests and docs.

:func:`synthetic_chest` draws a frontal (PA) chest-like image: air around a torso, dark lung fields with
rib shadows, a bright mediastinum, spine and heart, clavicles, diaphragm domes, a little noise. It is a
test pattern with the geometry and polarity of a radiograph, **not** a realistic simulation (no pathology,
no scatter physics): good for checking that code keeps lungs dark, masks aligned and shapes right.

:func:`synthetic_dicom` writes such an image (or given pixels) as a real DICOM file with pydicom, with the
header features the readers must handle (MONOCHROME1, BitsStored, rescale, windows, VOI LUT and Modality
LUT sequences, pixel spacing tags, multi-frame, compressed transfer syntaxes, no preamble, no pixel data).

Both are deterministic given ``seed``; no global random state is touched.
"""

from cxrkit.synthetic.chest import synthetic_chest
from cxrkit.synthetic.dicom import TRANSFER_SYNTAXES, synthetic_dicom

__all__ = ["synthetic_chest", "synthetic_dicom", "TRANSFER_SYNTAXES"]
