"""Uploaded images lose their metadata: a JPEG's EXIF with a GPS position, XMP and comment, a PNG's text and
eXIf chunks, a WebP's EXIF and XMP are not in the bytes served. The EXIF orientation is applied first, so a
photo taken sideways still shows upright."""

from __future__ import annotations

import io

import pytest
from PIL import ExifTags, Image, PngImagePlugin

from mnwd.services import Services
from mnwd.store.media import strip_metadata
from tests.store.social_support import Client, image_bytes, make_creator, token
from tests.store.test_media import api_upload
from tests.support.browser import Browser

XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description GPSLatitude="52,31.2N"/></x:xmpmeta>'


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SecretCam"
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 36.0)
    return exif


def _photo(kind: str, *, orientation: int = 1, size: tuple[int, int] = (8, 4)) -> bytes:
    image = Image.new("RGB", size, "white")
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))  # the left half red: where it ends up shows the turn
    out = io.BytesIO()
    if kind == "JPEG":
        image.save(out, "JPEG", exif=_exif(orientation), comment=b"taken at home", xmp=XMP, quality=95)
    elif kind == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "taken at home")
        info.add_text("XML:com.adobe.xmp", XMP.decode())
        image.save(out, "PNG", pnginfo=info, exif=_exif(orientation))
    else:
        image.save(out, "WEBP", exif=_exif(orientation), xmp=XMP, lossless=True)
    data = out.getvalue()
    assert b"SecretCam" in data
    return data


def _assert_clean(data: bytes) -> None:
    for marker in (b"SecretCam", b"Exif", b"EXIF", b"eXIf", b"taken at home", b"xmpmeta", b"GPSLatitude"):
        assert marker not in data, marker
    with Image.open(io.BytesIO(data)) as image:
        assert dict(image.getexif()) == {}
        assert "xmp" not in image.info
        assert "comment" not in image.info


@pytest.fixture
async def secret(alice: Browser, services: Services) -> str:
    await make_creator(services.pool, "alice")
    return await token(services, "alice", "media:write", "media:read")


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "WEBP"])
async def test_the_served_bytes_carry_no_location_or_other_metadata(client: Client, secret: str, kind: str) -> None:
    response = await api_upload(client, secret, _photo(kind), f"holiday.{kind.lower()}")
    assert response.status == 201, await response.text()
    doc = await response.json()
    assert (doc["width"], doc["height"]) == (8, 4)
    served = await client.get(doc["url"])
    assert served.status == 200
    data = await served.read()
    assert len(data) == doc["size_bytes"]
    _assert_clean(data)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == kind
        assert image.size == (8, 4)
        red, _, _ = image.convert("RGB").getpixel((1, 1))  # type: ignore[misc]
        assert red > 200


async def test_a_sideways_photo_is_turned_upright_before_its_exif_goes(client: Client, secret: str) -> None:
    # Orientation 6: the camera was turned; viewers rotate the stored 8x4 pixels 90° clockwise to 4x8.
    response = await api_upload(client, secret, _photo("JPEG", orientation=6), "sideways.jpg")
    assert response.status == 201, await response.text()
    doc = await response.json()
    assert (doc["width"], doc["height"]) == (4, 8)
    data = await (await client.get(doc["url"])).read()
    _assert_clean(data)
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (4, 8)
        top = image.convert("RGB").getpixel((2, 1))
        bottom = image.convert("RGB").getpixel((2, 6))
    # Turned clockwise, the red left half is on top: red there, white below.
    assert top[1] < 80  # type: ignore[index]
    assert bottom[1] > 200  # type: ignore[index]


def test_an_image_without_metadata_keeps_its_pixels_and_a_gif_its_frames() -> None:
    plain = image_bytes("PNG", (5, 5))
    with Image.open(io.BytesIO(strip_metadata(plain))) as image:
        assert image.convert("RGB").getpixel((2, 2)) == (255, 0, 0)
    gif = image_bytes("GIF", (3, 3))
    assert strip_metadata(gif) == gif
    frames = [Image.new("RGB", (4, 4), color).convert("P") for color in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0, comment=b"at home")
    cleaned = strip_metadata(out.getvalue())
    assert b"at home" not in cleaned
    with Image.open(io.BytesIO(cleaned)) as image:
        assert getattr(image, "n_frames", 1) == 2
        assert image.info["loop"] == 0
        image.seek(1)
        assert image.convert("RGB").getpixel((1, 1)) == (0, 0, 255)
