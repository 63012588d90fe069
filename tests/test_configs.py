"""Config files, arguments and overrides, and the errors a user sees."""
import pytest

from avjax import configs


def test_variants_and_overrides():
    full = configs.load_config("configs/crisscross/synthetic.py")
    assert full.model.video_widths == (64, 128, 256, 512) and full.video.crop_size == 112
    tiny = configs.load_config("configs/crisscross/synthetic.py:variant=tiny")
    assert tiny.model.video_widths == (8, 16, 32, 64)
    configs.apply_overrides(tiny, ["--config.total_steps=7", "--config.optim.name", "adam",
                                   "--config.mesh=[('data', 4), ('fsdp', 2)]", "--config.optim.weight_decay=0"])
    assert tiny.total_steps == 7 and tiny.optim.name == "adam" and tiny.mesh == [("data", 4), ("fsdp", 2)]
    assert isinstance(tiny.optim.weight_decay, float)


def test_errors_name_the_field():
    with pytest.raises(ValueError, match="variant='huge'"):
        configs.load_config("configs/crisscross/synthetic.py:variant=huge")
    with pytest.raises(ValueError, match="config argument 'size' is unknown"):
        configs.load_config("configs/crisscross/synthetic.py:size=3")
    with pytest.raises(FileNotFoundError, match="no file 'configs/nope.py'"):
        configs.load_config("configs/nope.py")
    c = configs.load_config("configs/crisscross/synthetic.py:variant=tiny")
    with pytest.raises(ValueError, match="no field 'lrr'"):
        configs.apply_overrides(c, ["--config.optim.lrr=1"])
    with pytest.raises(ValueError, match="total_steps=abc: expected a value like 200"):
        configs.apply_overrides(c, ["--config.total_steps=abc"])
