"""Properties of FluxParams: every invalid input names its field; every valid one the server takes.

The valid inputs are POSTed raw (not through the client) to the mock, whose validator stands in
for the API's schema: a 201 means the client never blocks a request the server would accept.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux_widgets import ASPECT_RATIOS, MEGAPIXELS, OUTPUT_FORMATS, FluxParams
from flux_widgets.mock import FaultConfig, MockConfig, MockServer
from flux_widgets.params import SEED_RANGE

CREATE = "/replicate/v1/models/black-forest-labs/flux-schnell/predictions"
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
not_a_string = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False)
)
not_an_int = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False), text
)


def _choice(choices: tuple[str, ...]) -> st.SearchStrategy[object]:
    return st.one_of(text.filter(lambda s: s not in choices), not_a_string)


def _int_outside(low: int, high: int) -> st.SearchStrategy[object]:
    return st.one_of(
        st.integers(max_value=low - 1), st.integers(min_value=high + 1), not_an_int
    ).filter(lambda v: v is not None)


VALID_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "aspect_ratio": st.sampled_from(ASPECT_RATIOS),
    "num_outputs": st.integers(1, 4),
    "num_inference_steps": st.integers(1, 4),
    "seed": st.one_of(st.none(), st.integers(*SEED_RANGE)),
    "output_format": st.sampled_from(OUTPUT_FORMATS),
    "output_quality": st.integers(0, 100),
    "disable_safety_checker": st.booleans(),
    "go_fast": st.booleans(),
    "megapixels": st.sampled_from(MEGAPIXELS),
}
valid_inputs = st.fixed_dictionaries(
    {"prompt": text.filter(lambda s: s.strip() != "")}, optional=VALID_FIELDS
)

INVALID_VALUES: dict[str, st.SearchStrategy[object]] = {
    "prompt": st.one_of(st.text(alphabet=" \t\n\r", max_size=5), not_a_string),
    "aspect_ratio": _choice(ASPECT_RATIOS),
    "output_format": _choice(OUTPUT_FORMATS),
    "megapixels": _choice(MEGAPIXELS),
    "num_outputs": _int_outside(1, 4),
    "num_inference_steps": _int_outside(1, 4),
    "output_quality": _int_outside(0, 100),
    # None is a valid seed (the server picks one).
    "seed": _int_outside(*SEED_RANGE),
    "disable_safety_checker": json_scalars.filter(lambda v: not isinstance(v, bool)),
    "go_fast": json_scalars.filter(lambda v: not isinstance(v, bool)),
}


@st.composite
def invalid_inputs(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid input with exactly one field replaced by an invalid value."""
    data = draw(valid_inputs)
    field = draw(st.sampled_from(sorted(INVALID_VALUES)))
    data[field] = draw(INVALID_VALUES[field])
    return field, data


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    # Every prediction fails at once: no image is rendered, the create still answers 201.
    config = MockConfig(generation_time=0, faults=FaultConfig(fail_rate=1.0))
    with MockServer(config) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


@PROPERTY_SETTINGS
@given(case=invalid_inputs())
def test_every_invalid_input_raises_value_error_naming_the_field(
    case: tuple[str, dict[str, Any]], http: httpx.Client
) -> None:
    field, data = case
    with pytest.raises(ValueError, match=field):
        FluxParams(**data)
    # The server agrees, and names the same field.
    response = http.post(CREATE, json={"input": data})
    assert response.status_code == 422, response.text
    fields = [f["field"] for f in response.json()["invalid_fields"]]
    assert fields == [f"input.{field}"]


@PROPERTY_SETTINGS
@given(data=valid_inputs)
def test_every_valid_input_is_accepted_by_the_server(
    data: dict[str, Any], http: httpx.Client
) -> None:
    params = FluxParams(**data)
    response = http.post(CREATE, json={"input": data})
    assert response.status_code == 201, response.text
    assert response.json()["input"] == data
    # What the client sends for those params is the same input, defaults filled in.
    assert http.post(CREATE, json={"input": params.to_input()}).status_code == 201


@PROPERTY_SETTINGS
@given(data=valid_inputs)
def test_params_round_trip_through_their_input(data: dict[str, Any]) -> None:
    params = FluxParams(**data)
    assert FluxParams.from_input(params.to_input()) == params
