"""Training config: presets, overrides, type and key checks, round trip through the run folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from animegan.errors import ConfigError
from animegan.training.config import (
    TrainConfig,
    config_from_dict,
    diff_from_defaults,
    load_config,
    parse_override,
    to_toml,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


@pytest.mark.parametrize("preset, weights, d_weights", [
    ("hayao", (1.5, 2.5, 15.0, 1.0), (1.2, 1.2, 1.2, 0.8)),
    ("shinkai", (1.2, 2.0, 10.0, 1.0), (1.7, 1.7, 1.7, 1.0)),
    ("paprika", (2.0, 0.6, 50.0, 0.1), (1.0, 1.0, 1.0, 0.005)),
])
def test_official_presets_carry_the_reference_weights(preset, weights, d_weights):
    cfg = load_config(preset)
    lo = cfg.loss
    assert (lo.content, lo.style, lo.color, lo.tv) == weights
    assert (lo.d_real, lo.d_fake, lo.d_gray, lo.d_smooth) == d_weights
    assert lo.adversarial == "lsgan" and lo.adv_g == 300.0 and lo.style_gray
    assert (cfg.optim.init_lr, cfg.optim.g_lr, cfg.optim.d_lr) == (2e-4, 2e-5, 4e-5)
    assert cfg.optim.betas == [0.5, 0.999]
    assert (cfg.schedule.batch_size, cfg.schedule.init_epochs, cfg.data.crop_size) == (12, 10, 256)
    assert (cfg.model.vgg_layer, cfg.model.vgg_normalization) == ("conv4_4", "caffe")
    assert cfg.model.generator == "animeganv2" and cfg.model.discriminator == "patchgan"
    assert cfg.run.style == preset


def test_seed_preset_is_the_articles_recipe():
    cfg = load_config("seed")
    assert (cfg.model.generator, cfg.model.discriminator) == ("resnet_sam", "sam")
    assert (cfg.loss.adversarial, cfg.loss.content, cfg.loss.style, cfg.loss.adv_g) == ("hinge", 10.0, 1.0, 1.0)
    assert cfg.model.vgg_layer == "relu4_1"
    assert (cfg.schedule.batch_size, cfg.schedule.epochs, cfg.schedule.init_epochs) == (8, 100, 0)
    assert (cfg.optim.g_lr, cfg.optim.d_lr, cfg.optim.lr_schedule) == (2e-4, 4e-4, "cosine")
    assert cfg.data.jitter == pytest.approx(0.1)


def test_overrides_are_read_as_toml_values_or_bare_strings():
    cfg = load_config("tiny", ["loss.style=3", "data.photos=/data/my photos", "run.name=my run",
                               "optim.grad_clip=1.5", "run.amp=false"])
    assert cfg.loss.style == 3.0 and isinstance(cfg.loss.style, float)
    assert cfg.data.photos == "/data/my photos"
    assert load_config("tiny", ["optim.betas=[0.9, 0.99]"]).optim.betas == [0.9, 0.99]
    assert cfg.run.name == "my run" and cfg.optim.grad_clip == 1.5 and cfg.run.amp is False
    assert parse_override("model.vgg_weights=/x/vgg.pth") == ("model", "vgg_weights", "/x/vgg.pth")


@pytest.mark.parametrize("override, words", [
    ("loss.nope=1", ["loss.nope", "unknown key"]),
    ("nosuch.key=1", ["nosuch", "unknown section"]),
    ("loss.style='x'", ["loss.style", "number"]),
    ("schedule.batch_size=2.5", ["schedule.batch_size", "integer"]),
    ("run.amp=1", ["run.amp", "true or false"]),
    ("loss.adversarial=wgan", ["loss.adversarial", "'lsgan'"]),
    ("style=1", ["section.key=value"]),
])
def test_bad_override_names_the_key_in_one_line(override, words):
    with pytest.raises(ConfigError) as exc:
        load_config("tiny", [override])
    message = str(exc.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_bad_key_in_a_file_names_the_file(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text('extends = "hayao"\n[optim]\nlearning_rate = 1e-3\n')
    with pytest.raises(ConfigError, match=r"mine\.toml: unknown key optim\.learning_rate"):
        load_config(path)
    path.write_text("[schedule]\nepochs = 'many'\n")
    with pytest.raises(ConfigError, match=r"mine\.toml: schedule\.epochs must be an integer"):
        load_config(path)
    path.write_text("[schedule\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_extends_a_local_file_and_unknown_preset_lists_presets(tmp_path: Path):
    (tmp_path / "base.toml").write_text("[loss]\nstyle = 7.0\n")
    (tmp_path / "child.toml").write_text('extends = "base.toml"\n[loss]\ncolor = 3.0\n')
    cfg = load_config(tmp_path / "child.toml")
    assert (cfg.loss.style, cfg.loss.color) == (7.0, 3.0)
    with pytest.raises(ConfigError, match="presets: .*hayao"):
        load_config("no-such-preset")


def test_cross_field_checks():
    with pytest.raises(ConfigError, match="init_epochs"):
        load_config("tiny", ["schedule.init_epochs=9"])
    with pytest.raises(ConfigError, match="betas"):
        load_config("tiny", ["optim.betas=[0.5]"])


def test_toml_round_trip_and_diff():
    cfg = load_config("paprika", ["data.photos='x y z\"q'", "model.generator_config={width = 8}"])
    again = config_from_dict(tomllib.loads(to_toml(cfg)))
    assert again == cfg
    diff = diff_from_defaults(cfg)
    assert diff["loss"]["color"] == 50.0 and "optim" not in diff
    assert diff_from_defaults(TrainConfig()) == {}
