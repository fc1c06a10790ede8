"""Machine-learning side of the detector: preprocessing, training, checkpoints, inference.

Nothing here imports Django; the Django app calls `detector.ml.inference.load_detector`
and the `train_detector` management command calls `detector.ml.training.train_detector`.
Submodules are imported explicitly so that importing this package stays cheap.
"""
