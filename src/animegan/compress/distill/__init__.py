"""Knowledge distillation: a student generator learns a teacher's outputs on photo crops.

Built on the trainer's infrastructure (typed TOML config, run folder, stats, full-state checkpoints,
shared losses and discriminator). Modules: :mod:`.config` (``DistillConfig``), :mod:`.data` (crops,
teacher, teacher cache), :mod:`.losses` (the loss terms), :mod:`.loop` (``distill``, ``cache_teacher``).
"""

from __future__ import annotations

from .config import DistillConfig, check_precision, find_distill_config, missing_inputs
from .data import CropSpec, TeacherCache, batch_indices, batch_tensor, list_photos, load_teacher, plan_crops
from .loop import cache_teacher, distill
from .losses import WEIGHTS

__all__ = ["WEIGHTS", "CropSpec", "DistillConfig", "TeacherCache", "batch_indices", "batch_tensor",
           "cache_teacher", "check_precision", "distill", "find_distill_config", "list_photos", "load_teacher",
           "missing_inputs", "plan_crops"]
