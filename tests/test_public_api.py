"""The public API is what flux_widgets/__init__ exports: complete, sorted, importable."""

from __future__ import annotations

import subprocess
import sys

import flux_widgets


def test_all_is_complete_and_every_name_resolves() -> None:
    # ruff (RUF022) keeps __all__ sorted; this keeps it complete.
    names = set(flux_widgets.__all__)
    assert len(names) == len(flux_widgets.__all__)
    defined = {
        name
        for name, value in vars(flux_widgets).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("flux_widgets")
    }
    assert defined <= names
    for name in names:
        assert getattr(flux_widgets, name) is not None


def test_every_public_error_derives_from_flux_error() -> None:
    errors = [getattr(flux_widgets, n) for n in flux_widgets.__all__ if n.endswith("Error")]
    assert len(errors) >= 15
    assert all(issubclass(e, flux_widgets.FluxError) for e in errors)


def test_importing_the_client_does_not_import_ipywidgets() -> None:
    code = "import sys, flux_widgets; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
