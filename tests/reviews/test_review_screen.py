"""The review screen: image tools, evidence, earlier decisions on matching images, keys, history."""

import io
import random

import pytest
from django.urls import reverse
from PIL import Image, ImageDraw, ImageFilter

from reviews.models import ReviewCase

pytestmark = pytest.mark.django_db(transaction=True)


def scene(seed: int, size=(480, 360)) -> Image.Image:
    """A photo-like picture with enough structure for perceptual hashing."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(14):
        x, y, r = rng.randrange(size[0]), rng.randrange(size[1]), rng.randrange(20, 120)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(rng.randrange(256) for _ in range(3)))
    return image.filter(ImageFilter.GaussianBlur(2))


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_the_screen_offers_zoom_heatmap_decision_keys_and_lists_every_shortcut(
    everything_likely_ai, submit_image, submitter, web, reviewer
):
    case = submit_image(submitter, seed=61, note="my own photo from the harbour")
    client = web.login_as(reviewer)
    page = client.get(client.post(reverse("review-claim-next"))["Location"]).content.decode()
    for testid in ("image-viewport", "case-image", "zoom-toggle", "heatmap-toggle", "decision-ai", "decision-human",
                   "decision-unsure", "decision-note", "save-decision", "skip-case", "release-case", "shortcut-help"):
        assert f'data-testid="{testid}"' in page, testid
    for key in ("a", "h", "u", "s", "r", "n", "[", "]", "z", "m", "?"):
        assert f"<kbd>{key}</kbd>" in page, key
    assert 'id="decision-ai"' in page and 'for="decision-ai"' in page
    assert 'src="/static/js/review.js"' in page
    # Without JS: the heatmap is still there as a disclosure, and the evidence and note are listed.
    assert 'id="heatmap-fallback"' in page and reverse("review-case-heatmap", args=[case.pk]) in page
    assert 'aria-labelledby="evidence-heading"' in page
    assert "my own photo from the harbour" in page
    script = b"".join(client.get("/static/js/review.js").streaming_content).decode()
    assert "isTyping" in script and "requestSubmit" in script


def test_earlier_decisions_on_matching_images_are_shown_with_label_date_and_notes(
    everything_likely_ai, submit_image, submitter, other_submitter, web, api_for, reviewer, reviewer2
):
    original = scene(3)
    first = submit_image(submitter, seed=0, data=encode(original))
    api = api_for(reviewer)
    api.post("/api/v1/review/claim/")
    api.post(
        f"/api/v1/review/cases/{first.pk}/decision/",
        {"decision": "ai", "note": "the lettering on the sign is gibberish", "reason_codes": ["generator_artifacts"]},
        format="json",
    )
    first.refresh_from_db()
    again = submit_image(other_submitter, seed=0, data=encode(original, "JPEG", quality=60))
    assert again.pk != first.pk

    client = web.login_as(reviewer2)
    assert client.post(reverse("review-claim-next"))["Location"] == reverse("review-case", args=[again.pk])
    page = client.get(reverse("review-case", args=[again.pk])).content.decode()
    assert "Earlier decisions on matching images" in page
    assert f'data-testid="matching-case-{first.pk}"' in page
    assert f"labelled <strong>AI-generated</strong> on {first.labelled_at:%Y-%m-%d}" in page
    assert "the lettering on the sign is gibberish" in page and "rita" in page

    matches = api_for(reviewer2).get(f"/api/v1/review/cases/{again.pk}/").json()["matching_cases"]
    assert matches[0]["case_id"] == first.pk and matches[0]["label"] == "ai" and matches[0]["final"] is True
    assert matches[0]["decisions"][0]["note"] == "the lettering on the sign is gibberish"


def test_previous_and_next_walk_through_the_cases_you_decided(
    everything_likely_ai, submit_image, submitter, web, reviewer
):
    cases = [submit_image(submitter, seed=s) for s in (71, 72, 73)]
    ReviewCase.objects.update(p_ai_at_routing=0.9)
    client = web.login_as(reviewer)
    for _ in range(2):
        location = client.post(reverse("review-claim-next"))["Location"]
        client.post(location, {"decision": "unsure"})
    third = client.get(client.post(reverse("review-claim-next"))["Location"]).content.decode()
    assert f'data-testid="history-prev" href="{reverse("review-case", args=[cases[1].pk])}"' in third
    second = client.get(reverse("review-case", args=[cases[1].pk])).content.decode()
    assert f'href="{reverse("review-case", args=[cases[0].pk])}"' in second
    assert 'data-testid="history-next"' not in second  # the held case is not history yet
    first = client.get(reverse("review-case", args=[cases[0].pk])).content.decode()
    assert f'data-testid="history-next" href="{reverse("review-case", args=[cases[1].pk])}"' in first
    assert 'data-testid="history-prev"' not in first
    assert "Back to the case you hold" in first


def test_escalation_pages_are_for_admins(web, client, submitter, reviewer):
    response = client.get(reverse("review-escalations"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert web.login_as(submitter).get(reverse("review-escalations")).status_code == 403
    assert web.login_as(reviewer).get(reverse("review-escalations")).status_code == 403
