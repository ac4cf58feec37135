"""cxrkit: chest X-ray AI toolkit.

Read radiographs (:func:`cxrkit.io.read_image`), load public datasets (:func:`cxrkit.data.load_dataset`),
mine report labels, classify, explain, segment and deliver results. See README.md.
"""

import logging

__version__ = "0.1.0"
logging.getLogger(__name__).addHandler(logging.NullHandler())
