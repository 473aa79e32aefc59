import pytest

from gsos.training.model import Architecture
from gsos.training.trainer import TrainSettings, resolve_device, train_and_evaluate

SETTINGS = TrainSettings(arch=Architecture(base_filters=8))


def good_params(space, **over):
    return {**space.defaults(), "epoch": 3, "lr": 0.003, "num_conv_layers": 2, **over}


def test_training_learns_the_digits(paper_space, digits):
    r = train_and_evaluate(good_params(paper_space), digits, seed=0, settings=SETTINGS)
    assert r.val_accuracy > 0.8 and r.test_accuracy > 0.8  # chance is 0.1
    assert r.epochs_run == 3 and not r.diverged
    assert r.sample_epochs == 3 * len(digits.y["train"])
    assert r.train_seconds > 0 and r.val_loss is not None


def test_same_seed_same_result_on_cpu(paper_space, digits):
    p = good_params(paper_space, epoch=1, dropout_rate=0.4)
    a = train_and_evaluate(p, digits, seed=5, settings=SETTINGS)
    b = train_and_evaluate(p, digits, seed=5, settings=SETTINGS)
    c = train_and_evaluate(p, digits, seed=6, settings=SETTINGS)
    assert (a.val_accuracy, a.val_loss, a.test_loss) == (b.val_accuracy, b.val_loss, b.test_loss)
    assert (a.val_loss, a.test_loss) != (c.val_loss, c.test_loss)


def test_divergence_is_a_result_not_a_crash(paper_space, digits):
    p = good_params(paper_space, optimizer="sgd", lr=1e12, epoch=5)
    r = train_and_evaluate(p, digits, seed=0, settings=SETTINGS)
    assert r.diverged and r.epochs_run < 5
    assert 0.0 <= r.val_accuracy <= 0.3
    assert r.val_loss is None  # not finite, recorded as null


def test_device_choice():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda"}
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="set device: cpu or auto"):
            resolve_device("cuda")


def test_bf16_and_channels_last_learn_what_fp32_learns_on_cpu(paper_space, digits):
    """bf16 autocast and NHWC change the order and precision of the arithmetic, not what is
    learnt (bench/parity.py measures it over seeds; this is the quick check)."""
    import dataclasses

    p = good_params(paper_space, epoch=3)
    plain = dataclasses.replace(SETTINGS, precision="fp32", channels_last=False)
    base = train_and_evaluate(p, digits, seed=1, settings=plain)
    assert base.val_accuracy > 0.8 and base.precision == "fp32"
    for precision, cl in (("fp32", True), ("bf16", True), ("bf16", False)):
        other = train_and_evaluate(
            p,
            digits,
            seed=1,
            settings=dataclasses.replace(plain, precision=precision, channels_last=cl),
        )
        assert other.precision == precision
        assert abs(other.val_accuracy - base.val_accuracy) <= 0.03, (precision, cl)
        assert abs(other.test_accuracy - base.test_accuracy) <= 0.03, (precision, cl)


def test_auto_precision_is_bf16_only_where_it_is_native_and_pays(paper_space, monkeypatch):
    import torch

    from gsos.training import trainer as train
    from gsos.training.model import CNN

    small = CNN(good_params(paper_space), (1, 8, 8), 10, Architecture(base_filters=8))
    large = CNN(good_params(paper_space), (3, 64, 64), 10, Architecture(base_filters=32))
    assert small.train_flops_per_sample < 2e6 < large.train_flops_per_sample
    auto, cpu = TrainSettings(), torch.device("cpu")
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: True)
    assert auto.bf16(cpu, large) and not auto.bf16(cpu, small)
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: False)
    assert not auto.bf16(cpu, large)  # emulated bf16 is slower
    # on CUDA it follows the GPU's compute capability (tests/test_device.py)
    assert TrainSettings(precision="bf16").bf16(cpu, small)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_continuing_a_saved_state_equals_training_in_one_go(
    paper_space, digits, tmp_path, optimizer
):
    """What Hyperband's promotions rely on: 2 epochs, saved, then 3 more = 5 in one go."""
    import dataclasses

    settings = dataclasses.replace(SETTINGS, sgd_momentum=0.9)
    p = good_params(paper_space, optimizer=optimizer, dropout_rate=0.3, lr=0.01)
    whole = train_and_evaluate({**p, "epoch": 5}, digits, seed=4, settings=settings)
    first = train_and_evaluate(
        {**p, "epoch": 2}, digits, seed=4, settings=settings, save=tmp_path / "s.pt"
    )
    rest = train_and_evaluate(
        {**p, "epoch": 5}, digits, seed=4, settings=settings, resume=tmp_path / "s.pt"
    )
    assert first.epochs_run == 2 and rest.epochs_run == 3  # only the new epochs are trained
    assert rest.sample_epochs == 3 * len(digits.y["train"])
    for field in ("val_accuracy", "val_loss", "test_accuracy", "test_loss"):
        assert getattr(rest, field) == getattr(whole, field), field
    assert first.val_loss != whole.val_loss  # and the 2-epoch model was a different one


def test_micro_batches_give_the_whole_batchs_training(paper_space, digits):
    """A batch cut into micro-batches, their gradients summed, trains as the whole batch
    (the same arithmetic in another order: equal up to float rounding)."""
    import dataclasses

    import torch

    cpu = torch.device("cpu")
    whole = dataclasses.replace(SETTINGS, precision="fp32", cpu_micro_batch_elements=0)
    cut = dataclasses.replace(whole, cpu_micro_batch_elements=1000)  # 8x8 images: 8 at once
    assert whole.micro_batch(cpu, 64, 64) == 64 and cut.micro_batch(cpu, 64, 64) == 8
    assert cut.micro_batch(torch.device("cuda"), 64, 64) == 64  # a GPU takes the whole batch
    assert cut.micro_batch(cpu, 64, 2000) == 1 and cut.micro_batch(cpu, 10, 64) == 10
    p = good_params(paper_space, epoch=2, batch_size=64, dropout_rate=0.0)
    a = train_and_evaluate(p, digits, seed=3, settings=whole)
    b = train_and_evaluate(p, digits, seed=3, settings=cut)
    assert a.val_accuracy > 0.5
    assert b.val_loss == pytest.approx(a.val_loss, rel=1e-4)
    assert b.test_loss == pytest.approx(a.test_loss, rel=1e-4)
    assert abs(b.val_accuracy - a.val_accuracy) <= 1 / len(digits.y["val"])
    assert b.sample_epochs == a.sample_epochs


def test_training_settings_read_every_key_of_the_config():
    """Each training and model key a user sets reaches the trainer (a misspelt key would
    silently train with the default), and a key left out keeps the one default."""
    cfg = {
        "training": {"sgd_momentum": 0.9, "eval_batch_size": 64, "precision": "bf16",
                     "channels_last": False, "bf16_min_mflop": 7, "cpu_micro_batch_elements": 0},
        "model": {"base_filters": 8, "filter_growth": 1.5, "max_filters": 16, "pool_size": 3},
    }  # fmt: skip
    s = TrainSettings.from_config(cfg)
    assert s == TrainSettings(
        sgd_momentum=0.9, eval_batch_size=64, precision="bf16", channels_last=False,
        bf16_min_mflop=7.0, cpu_micro_batch_elements=0,
        arch=Architecture(base_filters=8, filter_growth=1.5, max_filters=16, pool_size=3),
    )  # fmt: skip
    assert isinstance(s.bf16_min_mflop, float) and isinstance(s.arch.filter_growth, float)
    assert TrainSettings.from_config({}) == TrainSettings()
    assert TrainSettings.from_config({"training": {"sgd_momentum": 0.5}}) == TrainSettings(
        sgd_momentum=0.5
    )
