"""The schema table and FluxParams agree: every field is declared once, in schema.py."""

from __future__ import annotations

import dataclasses

from flux_widgets.params import FIELD_NAMES, FluxParams
from flux_widgets.schema import FIELDS, SCHEMA


def test_flux_params_has_exactly_the_schema_fields_in_order() -> None:
    assert [f.name for f in dataclasses.fields(FluxParams)] == [f.name for f in SCHEMA]
    assert list(FIELD_NAMES) == [f.name for f in SCHEMA]


def test_flux_params_defaults_are_the_schema_defaults() -> None:
    for field in dataclasses.fields(FluxParams):
        if field.name == "prompt":
            assert field.default is dataclasses.MISSING
            continue
        assert field.default == FIELDS[field.name].default, field.name
