"""What cards and the README say of a pretrained entry, its ablation and the published numbers (no data)."""
from __future__ import annotations

from zoo.reporting.cards import card_markdown, paper_table, refresh_readme, results_table

METRICS = {"mse": 0.0035, "psnr": 25.9, "ssim": 0.96, "bce": 0.07}
PCA = {"mse": 0.0177, "psnr": 17.86, "ssim": 0.64, "bce": 0.14}


def card(name, *, pretrain_seconds=None, ablation=None, latent_dim=30, squared=2.74):
    c = {"name": name, "description": f"{name} model.", "architecture": "mlp", "kwargs": {"hidden": [8]},
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


def test_refresh_readme_rewrites_both_generated_parts_and_nothing_else(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:start -->\nold\n<!-- results:end -->\nkept\n<!-- paper:start -->\nold\n"
                      "<!-- paper:end -->\nend\n")
    refresh_readme(readme, [card("modern")])
    text = readme.read_text()
    assert "old" not in text and text.startswith("# x\n") and "\nkept\n" in text and text.endswith("end\n")
    results, paper = text.split("<!-- results:end -->")
    assert "[`modern`](weights/modern/README.md) | mnist | 30 | 0.00350" in results
    assert "[`modern`](weights/modern/README.md): modern model. | mnist, 30 | 2.74 |" in paper
