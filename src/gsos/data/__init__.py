"""Datasets, from their sources to prepared tensors.

- :mod:`~gsos.data.download`: HTTP (checksummed, retried) and Kaggle downloads, safe unpacking;
- :mod:`~gsos.data.folders`: walking image folders (hidden files skipped), content fingerprints;
- :mod:`~gsos.data.images`: decoding image files to uint8 arrays, with what was skipped and why;
- :mod:`~gsos.data.dedup`: exact duplicates, found before the split;
- :mod:`~gsos.data.prepare`: every source to one layout (split, resize, channels, manifest);
- :mod:`~gsos.data.tensors`: the prepared ``data.pt`` on disk and on the training device.
"""
