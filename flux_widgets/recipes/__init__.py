"""An image's recipe inside its file: written (``embedding``, over ``metadata``'s byte-level
writers), read back from ours or any tool's text (``reading``), and turned into code (``snippet``).
"""

from .embedding import a1111_parameters, embed_recipe, recipe_json
from .reading import parse_a1111_parameters, read_origin, read_recipe
from .snippet import code_snippet

__all__ = [
    "a1111_parameters",
    "code_snippet",
    "embed_recipe",
    "parse_a1111_parameters",
    "read_origin",
    "read_recipe",
    "recipe_json",
]
