"""Measuring the product: colour fidelity of the styles (:mod:`.quality`) and speed/memory of the
deployment variants (:mod:`.bench`). Nothing here changes a model."""
