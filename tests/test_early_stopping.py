"""Early stopping evaluates the epoch with the best validation recall, not the epochs that only showed it had
stopped rising (mmpaper.train.make_trainer, restore_best)."""
import pytorch_lightning as pl
import torch

from mmpaper.train import make_trainer, restore_best


class ScriptedRecall(pl.LightningModule):
    """A one-weight model whose validation recall per epoch is given; it remembers its weight at each epoch."""

    def __init__(self, recalls):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.recalls, self.weights = recalls, []

    def training_step(self, batch, batch_idx):
        return ((self.w - batch[0]) ** 2).mean()

    def on_train_epoch_end(self):
        self.weights.append(self.w.detach().clone())
        self.log("val_recall", self.recalls[self.current_epoch])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.full((4, 1), 3.0)), batch_size=2)


def test_the_best_validation_epoch_is_restored_after_early_stopping(tmp_path):
    system = ScriptedRecall([0.5, 0.9, 0.6, 0.4, 0.95, 0.3])
    trainer = make_trainer(tmp_path, max_epochs=6, accelerator="cpu", patience=2, progress=False)
    trainer.fit(system)
    assert len(system.weights) == 4                       # stopped after two epochs without a better recall
    assert not torch.equal(system.w.detach(), system.weights[1])
    assert restore_best(system, tmp_path) == 2            # the second epoch (recall 0.9), counted from 1
    assert torch.equal(system.w.detach(), system.weights[1])


def test_without_early_stopping_nothing_is_restored(tmp_path):
    system = ScriptedRecall([0.5, 0.9, 0.6])
    trainer = make_trainer(tmp_path, max_epochs=3, accelerator="cpu", patience=None, progress=False)
    trainer.fit(system)
    last = system.w.detach().clone()
    assert restore_best(system, tmp_path) is None
    assert torch.equal(system.w.detach(), last)
