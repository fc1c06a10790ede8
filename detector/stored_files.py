"""Files in storage: each image once per sha256, its thumbnails, and the scoring heatmaps."""

from __future__ import annotations

import hashlib
import io
import logging
import os

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from PIL import Image, ImageOps

from .intake import SUPPORTED_FORMATS, ValidatedImage
from .models import ImageAsset, asset_upload_path

logger = logging.getLogger(__name__)

THUMBNAIL_MAX_SIDE = 160


def asset_store(validated: ValidatedImage, data: bytes) -> ImageAsset:
    """Store the bytes once per sha256 and return the asset row (reused if it exists)."""
    existing = ImageAsset.objects.filter(sha256=validated.sha256).first()
    if existing is not None:
        if not default_storage.exists(existing.file.name):
            # The row outlived its file (restored database, lost volume): put the bytes back.
            logger.warning("Re-storing missing file for asset %s", existing.pk)
            existing.file.save(os.path.basename(existing.file.name), ContentFile(data), save=True)
        return existing
    asset = ImageAsset(
        sha256=validated.sha256,
        format=validated.format,
        width=validated.width,
        height=validated.height,
        size_bytes=validated.size_bytes,
    )
    name = asset_upload_path(asset, "")
    if default_storage.exists(name) and default_storage.size(name) == validated.size_bytes:
        asset.file.name = name  # left by an interrupted earlier attempt; same sha256, same bytes
    else:
        asset.file.name = default_storage.save(name, ContentFile(data))
    try:
        with transaction.atomic():
            asset.save()
    except IntegrityError:
        # A concurrent request stored the same bytes first; use its row.
        return ImageAsset.objects.get(sha256=validated.sha256)
    return asset


def asset_thumbnail(*, asset: ImageAsset, max_side: int = THUMBNAIL_MAX_SIDE) -> str:
    """Storage name of a small JPEG of the image for report tables, made once and kept
    (thumbnails/<sha256>-<side>.jpg). '' when the stored image cannot be read."""
    name = f"thumbnails/{asset.sha256[:2]}/{asset.sha256}-{max_side}.jpg"
    if default_storage.exists(name):
        return name
    try:
        with asset.file.open("rb") as handle:
            image = Image.open(io.BytesIO(handle.read()), formats=SUPPORTED_FORMATS)
            image.thumbnail((max_side, max_side))  # JPEGs are decoded at a reduced scale
            image = ImageOps.exif_transpose(image)
        if image.mode not in ("RGB", "L"):
            rgba = image.convert("RGBA")
            image = Image.new("RGB", rgba.size, (255, 255, 255))
            image.paste(rgba, mask=rgba.getchannel("A"))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80)
    except Exception:
        logger.exception("Thumbnail failed for asset %s", asset.pk)
        return ""
    if default_storage.exists(name):  # made by a concurrent request meanwhile
        return name
    return default_storage.save(name, ContentFile(buffer.getvalue()))


def heatmap_storage_name(asset: ImageAsset, producer: str) -> str:
    """Where the heatmap of ``asset`` by the weights ``producer`` is stored."""
    digest = hashlib.sha256(producer.encode()).hexdigest()[:12]
    return f"heatmaps/{asset.sha256[:2]}/{asset.sha256}-{digest}.png"


def heatmap_save(asset: ImageAsset, producer: str, png: bytes) -> str:
    """Store a rendered heatmap (replacing an earlier one of the same weights); its storage name."""
    name = heatmap_storage_name(asset, producer)
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(png))
