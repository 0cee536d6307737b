"""pythae 0.1.2's VAE trained as zoo trains vae-binary, for scripts/bench_likelihood.py: 784-400-40 ReLU,
Bernoulli decoder, Adam 1e-3, batch 100, on the same mnist-binary fit and validation images (binarized once:
pythae has no dynamic binarization), with its BaseTrainer.

    python scripts/pythae_vae.py OUTPUT_DIR EPOCHS
"""
import sys
from pathlib import Path

import torch
from pythae.data.datasets import BaseDataset
from pythae.models import VAE, VAEConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder
from pythae.trainers import BaseTrainer, BaseTrainerConfig
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo.data import load_dataset, to_float  # noqa: E402


class Encoder(BaseEncoder):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 400), nn.ReLU())
        self.mu, self.log_var = nn.Linear(400, 40), nn.Linear(400, 40)

    def forward(self, x):
        h = self.body(x)
        return ModelOutput(embedding=self.mu(h), log_covariance=self.log_var(h))


class Decoder(BaseDecoder):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(40, 400), nn.ReLU(), nn.Linear(400, 784), nn.Sigmoid())

    def forward(self, z):
        return ModelOutput(reconstruction=self.body(z).view(-1, 1, 28, 28))


def main() -> None:
    out, epochs = sys.argv[1], int(sys.argv[2])
    fit = to_float(load_dataset("mnist", "fit").images)
    val = to_float(load_dataset("mnist-binary", "val").images)
    fit = torch.bernoulli(fit, generator=torch.Generator().manual_seed(0))  # the grey fit images, binarized once
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=40, reconstruction_loss="bce"),
                encoder=Encoder(), decoder=Decoder())
    config = BaseTrainerConfig(output_dir=out, learning_rate=1e-3, per_device_train_batch_size=100,
                               per_device_eval_batch_size=100, num_epochs=epochs, optimizer_cls="Adam")
    BaseTrainer(model, train_dataset=BaseDataset(fit, torch.zeros(len(fit))),
                eval_dataset=BaseDataset(val, torch.zeros(len(val))), training_config=config).train()


if __name__ == "__main__":
    main()
