"""The precision stage's mask term: a false detection costs what filling it from its surroundings would change."""

import torch

from revive.train.tile_restore_task import TileRestoreOptions, TileRestoreTask


def _batch(picture: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    gray = ((picture + 1.0) * 127.5).round()
    return {"input": picture, "damaged": gray, "gray": gray, "mask": mask}


def _task(weight: float) -> TileRestoreTask:
    return TileRestoreTask(TileRestoreOptions(tile=32, widths=(8, 8, 16), fill_cost_weight=weight))


def _out(picture: torch.Tensor, logit: torch.Tensor) -> torch.Tensor:
    return torch.cat([picture, logit], dim=1)


def test_a_false_detection_on_a_highlight_costs_more_than_one_on_flat_ground():
    picture = torch.zeros(1, 1, 32, 32)
    picture[..., 8, 4:28] = 0.9  # a thin highlight, as on a saucer's rim: not damage
    clean = torch.zeros_like(picture)
    on_highlight, on_flat = torch.full_like(picture, -8.0), torch.full_like(picture, -8.0)
    on_highlight[..., 8, 4:28] = 4.0  # the mask calls the highlight damage
    on_flat[..., 20, 4:28] = 4.0  # the same false detection where nothing would change
    task = _task(16.0)
    high = task.losses(_out(picture, on_highlight), _batch(picture, clean))
    flat = task.losses(_out(picture, on_flat), _batch(picture, clean))
    assert float(high["loss_fill_cost"]) > 50 * float(flat["loss_fill_cost"])
    assert float(high["loss"]) > float(flat["loss"])


def test_true_damage_and_its_rim_cost_nothing_and_the_term_is_off_by_default():
    picture = torch.zeros(1, 1, 32, 32)
    picture[..., 8, 4:28] = 0.9
    mask = torch.zeros_like(picture)
    mask[..., 8, 4:28] = 1.0  # here the bright line is a scratch
    logit = torch.full_like(picture, -8.0)
    logit[..., 7:10, 4:28] = 4.0  # found, with a pixel of rim each side
    assert float(_task(16.0).losses(_out(picture, logit), _batch(picture, mask))["loss_fill_cost"]) < 1e-3
    assert "loss_fill_cost" not in _task(0.0).losses(_out(picture, logit), _batch(picture, mask))
