"""A submitter checks an image in a real browser and reads the result with its evidence."""

import pytest

from ..images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def test_submitter_uploads_an_image_and_reads_the_result(sign_in, submitter, tmp_path, screenshot):
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(image_bytes("JPEG", size=(320, 240), seed=11))
    page = sign_in(submitter)
    page.click("text=Check an image")
    page.set_input_files("input[type=file][name=image]", str(photo))
    page.click("[data-testid=submit-image]")
    page.wait_for_load_state()
    page.wait_for_selector(".probability")
    text = page.inner_text("main")
    assert "AI-generated:" in text and "human-made:" in text
    assert "Evidence" in text and "Learned classifier" in text
    assert "not a judgement" in text
    screenshot(page, "submitter-result")
