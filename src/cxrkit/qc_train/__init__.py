"""Train the learned view check of :mod:`cxrkit.qc_view` (frontal chest film vs lateral view / not a chest film).

    python -m cxrkit.qc_train --data ../shared/data --out src/cxrkit/qc_weights [--cache /tmp/qc_feats.npz]

Data (``--data``, see each SOURCE.md):

* frontal films (label 0): NIH ChestX-ray14 (``images_512`` + ``images_extra_512`` via the manifests),
  covid-ieee8023 rows with view PA / AP / AP Supine, covid-hannover, kermany-pneumonia (pediatric), jsrt-scr;
* lateral films (label 1): covid-ieee8023 rows with view L;
* not chest films (label 1): seeded synthetic smooth non-radiographs (gradients, blobs, waves, stripes, "text"
  blocks) and matplotlib's bundled sample images other than the portrait (an MR slice, terrain maps, logos); the
  portrait ``grace_hopper.jpg`` is kept out of training as a held-out real photograph.

Split (:func:`split_of`) by patient: NIH by ``configs/splits/nih_v2.csv`` (train / val) when that file exists,
else by a hash of the patient id; every other source by a hash of its patient id (covid-ieee8023 ``patientid``,
covid-hannover ``patient_id``, kermany ``person<N>`` / ``IM-<N>``, jsrt one film per patient) into train
(60 %) and held-out (40 %). Thresholds are chosen on out-of-fold probabilities of a 5-fold grouped
cross-validation within the training part (:func:`choose_thresholds`); the shipped model is then fitted on the
whole training part and evaluated once on the held-out part. Training images are augmented (flips, small
rotations, crops, gamma); laterals and non-chest images more often, since they are few.
"""

from cxrkit.qc_train.cli import main
from cxrkit.qc_train.fit import choose_thresholds, fit_view_model, wilson
from cxrkit.qc_train.items import Item, assign_splits, list_items, load_nih_split, split_of
from cxrkit.qc_train.negatives import augment, synthetic_non_radiographs

__all__ = ["Item", "list_items", "split_of", "assign_splits", "load_nih_split", "augment", "synthetic_non_radiographs",
           "fit_view_model", "choose_thresholds", "wilson", "main"]
