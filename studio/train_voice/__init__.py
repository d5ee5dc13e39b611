"""Training an RVC v2 voice from a family's recordings, inside the studio.

``dataset``  recordings -> speech slices at the model's rate, with pitch and HuBERT features
             (cached on disk by content) and a report of what is usable;
``model``    the synthesizer as trained (posterior encoder, flow, NSF decoder) and the
             multi-period/scale discriminators, in the published RVC key layout;
``losses``   spectrograms, mel L1, feature matching, LSGAN and KL;
``trainer``  the resumable training job (progress, cancel, checkpoints, samples, overtraining);
``export``   the community ``.pth`` (``weight``/``config``/``info``/``sr``/``f0``/``version``) and
             the faiss ``.index`` of the training features.

Nothing here imports torch at module level of this package; the modules that need it import it.
"""
from __future__ import annotations

from studio.messages import Localized


class TrainingRefused(Localized, ValueError):
    """Training cannot start with what was given; the message says what is needed."""
