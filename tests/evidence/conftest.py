"""Fixtures shared by the provenance tests."""

import pytest

from .c2pa_signing import sign_image
from .provenance_files import _image


@pytest.fixture(scope="module")
def signed_ai_jpeg() -> bytes:
    return sign_image(_image("JPEG", size=(64, 48)), "image/jpeg", digital_source_type="trainedAlgorithmicMedia")
