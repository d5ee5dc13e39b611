"""The offline illustrator's drawing parts: reading words (``words``), the place (``scene``),
the people (``figures``) and the paper and pen (``canvas``). Pure Pillow + NumPy, no model."""
