"""What cards and the README say of a pretrained entry, its ablation and the published numbers (no data)."""
from __future__ import annotations

from zoo.reporting.cards import card_markdown
from zoo.reporting.readme import likelihood_table, paper_table, refresh_readme, results_table

METRICS = {"mse": 0.0035, "psnr": 25.9, "ssim": 0.96, "bce": 0.07}
PCA = {"mse": 0.0177, "psnr": 17.86, "ssim": 0.64, "bce": 0.14}


def card(name, *, pretrain_seconds=None, ablation=None, latent_dim=30, squared=2.74):
    c = {"name": name, "description": f"{name} model.", "family": "ae", "network": {"type": "mlp", "hidden": [8]}, "kwargs": {},
         "params": 100, "latent_dim": latent_dim, "dataset": "mnist", "recipe": {"notes": "why"},
         "reference_recipe": None, "ablation": ablation,
         "training": {"epochs_run": 50, "train_seconds": 400.4, "device": "cpu", "best_val_loss": 0.07,
                      "best_epoch": 49, "stop_reason": "completed 50 epochs",
                      **({"pretrain_seconds": pretrain_seconds} if pretrain_seconds else {})},
         "test": {"reconstruction": {"model": METRICS, "pca": PCA}}, "reproduce": f"zoo train {name}"}
    if latent_dim == 30:
        c["squared_error_per_image"] = {"model": squared, "pca": 13.866}
    return c


ABLATION = {"what": "no pretraining", "command": "zoo train rbm --pretrain-epochs 0", "squared_error_per_image": 12.345,
            "training": {"epochs_run": 50, "train_seconds": 390.0, "device": "cpu"}}


def test_the_paper_table_puts_each_model_beside_the_published_numbers_and_its_ablation():
    cards = [card("modern", squared=2.711), card("rbm", pretrain_seconds=650.2, ablation=ABLATION, squared=3.456),
             card("other", latent_dim=32)]
    table = paper_table(cards)
    rows = table.splitlines()
    assert "| Hinton & Salakhutdinov 2006: their deep autoencoder | mnist, 30 | 3.00 | (published) |" in rows
    assert "| Hinton & Salakhutdinov 2006: PCA | mnist, 30 | 13.87 | (published) |" in rows
    assert "| zoo's PCA-30 | mnist, 30 | 13.87 | |" in rows
    assert "| [`modern`](weights/modern/README.md): modern model. | mnist, 30 | 2.71 | 400 s (50 epochs), cpu |" in rows
    assert ("| [`rbm`](weights/rbm/README.md): rbm model. | mnist, 30 | 3.46 | 650 s RBM pretraining + 400 s "
            "(50 epochs), cpu |") in rows
    assert ("| `rbm` ablation: no pretraining (`zoo train rbm --pretrain-epochs 0`) | mnist, 30 | 12.35 | "
            "390 s (50 epochs), cpu |") in rows
    assert "other" not in table  # no published counterpart for a 32-d code
    assert paper_table([card("other", latent_dim=32)]) == ""


def test_cards_and_the_results_table_count_the_pretraining_time():
    c = card("rbm", pretrain_seconds=650.2, ablation=ABLATION)
    text = card_markdown(c)
    assert "- Trained: RBM pretraining for 650 s, then 50 epochs on cpu in 400 s" in text
    assert "- Ablation, no pretraining (`zoo train rbm --pretrain-epochs 0`): 12.35 squared error per test image" in text
    assert "| 50 | 1051 s cpu |" in results_table([c])  # 650.2 + 400.4
    assert "Ablation" not in card_markdown(card("modern")) and "pretraining for" not in card_markdown(card("modern"))


def test_refresh_readme_rewrites_every_generated_part_and_nothing_else(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:start -->\nold\n<!-- results:end -->\nkept\n<!-- paper:start -->\nold\n"
                      "<!-- paper:end -->\nalso kept\n<!-- likelihood:start -->\nold\n<!-- likelihood:end -->\n"
                      "<!-- families:start -->\nold\n<!-- families:end -->\nend\n")
    sampled = likelihood_card()
    sampled["sampling"] = {"fd": 12.345, "pca_fd": 375.5, "floor_fd": 3.04, "sampler": "prior", "samples": 10000, "seed": 0}
    refresh_readme(readme, [card("modern"), sampled])
    text = readme.read_text()
    assert "old" not in text and text.startswith("# x\n") and "\nkept\n" in text and text.endswith("end\n")
    assert "\nalso kept\n" in text
    results, rest = text.split("<!-- results:end -->")
    paper, likelihood = rest.split("<!-- paper:end -->")
    assert "[`modern`](weights/modern/README.md) | mnist | 30 | 0.00350" in results
    assert "[`modern`](weights/modern/README.md): modern model. | mnist, 30 | 2.74 |" in paper
    assert "[`vae-b`](weights/vae-b/README.md)" in likelihood and "vae-b" not in paper
    families = text.split("<!-- families:start -->")[1]
    assert "| `vae` | [`vae-b`](weights/vae-b/README.md) | mnist-binary | 40 |" in families
    assert "| 88.77 | **12.35** (375.50) | prior |" in families and "modern" not in families
    assert "3.04 (mnist-binary)" in families and "![vae-b: samples](docs/samples/vae-b.png)" in families


LIKELIHOOD = {"dataset": "mnist-binary", "n": 10000, "samples": 5000, "nll": 88.7654, "elbo": -93.21, "nll_sem": 0.2871,
              "seed": 0, "seconds": 801.3, "command": "zoo eval vae-b --metric nll --samples 5000"}


def likelihood_card(name="vae-b", family="vae"):
    c = card(name, latent_dim=40)
    c.update(family=family, dataset="mnist-binary", likelihood=dict(LIKELIHOOD),
             recipe={"optimizer": "adam", "lr": 0.001, "batch_size": 100, "scheduler": {"type": "cosine"}, "notes": "why"},
             files={"model.safetensors": "x", "samples.png": "y"})
    return c


def test_the_likelihood_table_puts_each_family_beside_pythae_and_the_paper_with_its_protocol():
    table = likelihood_table([card("modern"), likelihood_card(), likelihood_card("iw", "iwae"),
                              likelihood_card("mine", "conv")])
    rows = table.splitlines()
    assert ("| VAE | 89.90 (Rezende & Mohamed 2015) | 89.78 | **88.77** (± 0.29) | -1.01 | "
            "[`vae-b`](weights/vae-b/README.md) |") in rows
    assert "| IWAE, 50 samples in the bound | 87.10 (Burda et al. 2016) | 86.82 | **88.77** (± 0.29) | +1.95 |" in table
    assert "modern" not in table and "mine" not in table  # no likelihood; no published counterpart
    protocol = next(r for r in rows if r.startswith("- VAE:"))
    assert "static binarized MNIST" in protocol and "mnist-binary (dynamic binarization)" in protocol
    assert "50 epochs of adam lr 0.001, cosine decay, batch 100, 400 s on cpu (the weights of epoch 49" in protocol
    assert "5000 importance samples on all 10,000 test images (`zoo eval vae-b --metric nll --samples 5000`, 801 s)" in protocol
    assert "![vae-b: samples](docs/samples/vae-b.png)" in rows
    assert likelihood_table([card("modern")]) == ""


def test_a_likelihood_card_states_its_nll_and_shows_its_samples():
    text = card_markdown(likelihood_card())
    assert ("Test negative log-likelihood: 88.77 nats per image (standard error 0.29), ELBO -93.21, importance-sampled "
            "with 5000 draws per image on all 10,000 test images in 801 s (`zoo eval vae-b --metric nll --samples 5000`).") in text
    assert "![samples](samples.png)" in text
    assert "negative log-likelihood" not in card_markdown(card("modern")) and "samples.png" not in card_markdown(card("modern"))
