"""The shipped recipes build their stage, and a recipe's ``init`` weights fit its models."""

from pathlib import Path

import pytest

from audiogen.config import load_recipe
from audiogen.training.tasks import build_task

ROOT = Path(__file__).resolve().parents[2]
STAGE_OF = {  # recipe file stem -> training stage
    "autoencoder": "autoencoder",
    "autoencoder_decoder": "autoencoder",
    "autoencoder_finetune": "autoencoder",
    "autoencoder_gan": "autoencoder",
    "autoencoder_v2": "autoencoder",
    "classifier": "classifier",
    "diffusion": "diffusion",
    "diffusion_v2": "diffusion",
    "sequence": "sequence",
    "sequence_v2": "sequence",
    "vocoder": "vocoder",
    "vocoder_gl": "vocoder",
    "vocoder_gl_gan": "vocoder",
}


def test_every_recipe_has_a_stage():
    assert {p.stem for p in (ROOT / "recipes").glob("*.yaml")} == set(STAGE_OF)


#: the diffusion stage reads its autoencoder when built; the recipe's default is a training run
OVERRIDES = {
    "diffusion": ["data.autoencoder=audiogen/assets/default"],
    "diffusion_v2": ["data.autoencoder=audiogen/assets/default"],
    # the v2 recipe's frames_per_step 4 fits the v2 autoencoder's rate; any autoencoder builds it
    "sequence_v2": ["data.autoencoder=audiogen/assets/default"],
}


@pytest.mark.parametrize("stem", sorted(STAGE_OF))
def test_recipe_sections_are_valid(stem, monkeypatch):
    monkeypatch.chdir(ROOT)
    recipe = load_recipe(ROOT / "recipes" / f"{stem}.yaml", OVERRIDES.get(stem, []))
    build_task(STAGE_OF[stem], recipe)  # raises on an unknown key or a bad value


def test_the_diffusion_recipe_trains_a_rectified_flow_with_one_override(monkeypatch):
    """The command of docs/diffusion.md: ``model.prediction_type=flow_prediction``."""
    from audiogen.samplers import FlowMatchSchedule

    monkeypatch.chdir(ROOT)
    overrides = [*OVERRIDES["diffusion"], "model.prediction_type=flow_prediction"]
    task = build_task("diffusion", load_recipe(ROOT / "recipes" / "diffusion.yaml", overrides))
    assert task.model_config.is_flow and task.model_config.flow_time_sampling == "logit_normal"
    assert isinstance(task.scheduler, FlowMatchSchedule)


@pytest.mark.parametrize(
    "stem", [s for s in sorted(STAGE_OF) if "init" in load_recipe(ROOT / "recipes" / f"{s}.yaml")]
)
def test_init_weights_fit_the_recipe_models(stem, monkeypatch):
    """A recipe that starts from saved weights (the bundled model) must match their architecture."""
    monkeypatch.chdir(ROOT)  # init paths in recipes are relative to the repository root
    recipe = load_recipe(ROOT / "recipes" / f"{stem}.yaml")
    task = build_task(STAGE_OF[stem], recipe)
    models = task.build_models()
    assert task.load_init_weights(models) == list(recipe["init"])
    frozen = task.freeze_modules(models)
    assert frozen == [f"{m}.{p}" for m, parts in (recipe.get("freeze") or {}).items() for p in parts]
