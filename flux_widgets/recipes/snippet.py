"""A recipe as Python: the notebook cell that makes an image again."""

from __future__ import annotations

from ..params import FIELD_NAMES, FluxParams
from .embedding import RecipeSource, made_image, recipe_of


def code_snippet(source: RecipeSource) -> str:
    """Python that makes the image again: a notebook cell (top-level ``await``) naming only
    the parameters that differ from the defaults."""
    recipe = recipe_of(source)
    defaults = FluxParams(prompt=recipe.prompt)
    arguments = [f"        {recipe.prompt!r},"]
    for name in FIELD_NAMES:
        value = getattr(recipe, name)
        if name != "prompt" and value != getattr(defaults, name):
            arguments.append(f"        {name}={value!r},")
    image = made_image(source)
    index = image.index if image is not None else 0
    lines = ["from flux_widgets import FluxClient", ""]
    if recipe.go_fast:
        lines.append(
            "# go_fast (the default) runs in fp8: the same seed gives a close, not identical, image"
        )
    lines += [
        "async with FluxClient() as client:",
        "    images = await client.generate(",
        *arguments,
        "    )",
        f"image = images[{index}]",
        "image",
    ]
    return "\n".join(lines) + "\n"
