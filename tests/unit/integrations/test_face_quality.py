"""Photo checks before a face is compared: type, size, decoding, orientation, one usable face."""

import csv
import io
import itertools
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageFilter, ImageOps

from integrations.face import FaceRecognitionMatcher, ImageRejected, face_sharpness, sniff_image_type
from integrations.face_messages import FACE_MESSAGES, face_message
from tests.conftest import faces_or_skip


@pytest.fixture(scope="module")
def faces():
    return faces_or_skip()


@pytest.fixture(scope="module")
def matcher():
    # One matcher for the module: its cache encodes each photo once.
    return FaceRecognitionMatcher(threshold=0.6)


@pytest.fixture(scope="module")
def manifest(faces):
    with (faces / "manifest.csv").open() as handle:
        return [row for row in csv.DictReader(handle)]


def photo(faces, name):
    return (faces / name).read_bytes()


def upright(faces, name):
    return ImageOps.exif_transpose(Image.open(faces / name)).convert("RGB")


def encoded(image, fmt="JPEG", **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def rejection(matcher, data):
    with pytest.raises(ImageRejected) as caught:
        matcher.verify(data, None)
    return caught.value


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width, height):
    """A PNG whose header claims the size but holds no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")


def sparse_png(width, height):
    """A complete, valid 1-bit PNG of all-black pixels: tiny on disk, huge once decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


# -- the real photos -----------------------------------------------------------------------------


def single_face_photos(manifest):
    return [(row["file"], row["person"]) for row in manifest if row["faces"] == "1"]


def test_every_single_face_photo_passes_the_quality_checks(matcher, faces, manifest):
    # Includes obama_small.jpg (320x240, face 103 px >= 80) and the two partial faces: the detector
    # places the whole face box inside the frame (only hair and chin are cut), so they are usable.
    for name, _ in single_face_photos(manifest):
        result = matcher.verify(photo(faces, name), None)
        quality = result.evidence.value["selfie_quality"]
        assert quality["face_px"] >= matcher.min_face_px, name
        assert quality["face_fraction"] >= matcher.min_face_fraction, name
        assert quality["sharpness"] >= matcher.min_sharpness, name


def test_same_person_matches_across_photos(matcher, faces, manifest):
    pairs = [(a, b) for (a, pa), (b, pb) in itertools.combinations(single_face_photos(manifest), 2) if pa == pb]
    assert len(pairs) >= 25  # obama x7, biden x2, and three pairs of others
    for a, b in pairs:
        result = matcher.verify(photo(faces, a), photo(faces, b))
        assert result.outcome == "match", (a, b, result.distance)


def test_different_people_do_not_match(matcher, faces, manifest):
    pairs = [(a, b) for (a, pa), (b, pb) in itertools.combinations(single_face_photos(manifest), 2) if pa != pb]
    for a, b in pairs:
        result = matcher.verify(photo(faces, a), photo(faces, b))
        assert result.outcome == "no_match", (a, b, result.distance)
        assert result.distance > 0.6


def test_partial_and_small_faces_match_the_full_photo(matcher, faces):
    # Expected to match: the same person, and each passed every check (see the test above).
    for name in ("obama_partial_face.jpg", "obama_partial_face2.jpg", "obama_small.jpg"):
        assert matcher.verify(photo(faces, name), photo(faces, "obama.jpg")).outcome == "match", name


def test_two_faces_are_refused(matcher, faces):
    assert rejection(matcher, photo(faces, "two_people.jpg")).code == "MULTIPLE_FACES"


# -- file type, size and integrity ---------------------------------------------------------------


def test_type_is_decided_by_content_not_name(matcher, faces, tmp_path):
    png = encoded(upright(faces, "obama2.jpg"), "PNG")
    renamed = tmp_path / "selfie.jpg"  # a PNG called .jpg is simply a PNG
    renamed.write_bytes(png)
    assert sniff_image_type(renamed.read_bytes()) == "PNG"
    assert matcher.verify(renamed.read_bytes(), photo(faces, "obama.jpg")).outcome == "match"


def test_webp_is_accepted(matcher, faces):
    webp = encoded(upright(faces, "obama2.jpg"), "WEBP", quality=90)
    assert sniff_image_type(webp) == "WEBP"
    assert matcher.verify(webp, photo(faces, "obama.jpg")).outcome == "match"


@pytest.mark.parametrize("kind", ["gif", "svg", "pdf", "elf", "exe", "text"])
def test_other_types_are_refused(matcher, faces, kind):
    obama = upright(faces, "obama.jpg")
    data = {
        "gif": lambda: encoded(obama, "GIF"),  # a real, decodable GIF of a face
        "svg": lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>',
        "pdf": lambda: encoded(obama, "PDF"),
        "elf": lambda: b"\x7fELF\x02\x01\x01" + b"\x00" * 200,
        "exe": lambda: b"MZ\x90\x00" + b"\x00" * 200,
        "text": lambda: b"Ini bukan foto.",
    }[kind]()
    assert rejection(matcher, data).code == "IMAGE_TYPE_NOT_ALLOWED"


def test_huge_upload_is_refused_before_decoding(matcher, monkeypatch):
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("a 50 MB upload must not be opened"))
    data = b"\xff\xd8\xff\xe0" + bytes(50 * 1024 * 1024)
    error = rejection(matcher, data)
    assert error.code == "IMAGE_TOO_LARGE"
    assert "10.0 MB" in error.message and "10.0 MB" in error.message_id


def test_byte_limit_is_configurable(faces):
    data = photo(faces, "obama.jpg")  # 274 KiB
    assert FaceRecognitionMatcher(max_bytes=len(data)).verify(data, None).outcome == "cannot_decide"
    assert rejection(FaceRecognitionMatcher(max_bytes=len(data) - 1), data).code == "IMAGE_TOO_LARGE"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(png_header_only(20_000, 20_000), id="header-claims-20000x20000"),
        pytest.param(sparse_png(20_000, 20_000), id="real-sparse-20000x20000"),
        pytest.param(sparse_png(20_000, 20), id="real-20000x20"),
    ],
)
def test_huge_dimensions_are_refused_from_the_header(matcher, data, monkeypatch):
    # If the pixels were decoded, the header-only PNG would fail as IMAGE_INVALID instead.
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("pixels must not be decoded"))
    assert len(data) < 300_000
    assert rejection(matcher, data).code == "IMAGE_DIMENSIONS_TOO_LARGE"


def test_pixel_limit_is_configurable(faces):
    data = photo(faces, "obama.jpg")  # 910 x 1137 = 1.03 megapixels
    assert rejection(FaceRecognitionMatcher(max_pixels=1_000_000), data).code == "IMAGE_DIMENSIONS_TOO_LARGE"
    assert FaceRecognitionMatcher(max_pixels=1_100_000).verify(data, None).outcome == "cannot_decide"


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_jpeg_is_invalid(matcher, faces, cut):
    data = photo(faces, "obama.jpg")
    assert rejection(matcher, data[: int(len(data) * cut)]).code == "IMAGE_INVALID"


def test_corrupt_png_is_invalid(matcher, faces):
    data = bytearray(encoded(upright(faces, "obama2.jpg"), "PNG"))
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64  # damages the compressed pixel data
    assert rejection(matcher, bytes(data)).code == "IMAGE_INVALID"


# -- orientation and colour ----------------------------------------------------------------------


def test_exif_orientation_is_applied(matcher, faces):
    rotated = upright(faces, "obama.jpg").transpose(Image.Transpose.ROTATE_90)  # pixels lie on their side
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": what phones write
    tagged = encoded(rotated, quality=92, exif=exif)
    assert matcher.verify(tagged, photo(faces, "obama2.jpg")).outcome == "match"
    # Without the tag the same pixels show no upright face: the tag is what made the difference.
    assert rejection(matcher, encoded(rotated, quality=92)).code == "NO_FACE"


@pytest.mark.parametrize("mode", ["L", "I;16", "RGBA", "LA", "P"])
def test_greyscale_transparent_and_palette_photos_match(matcher, faces, mode):
    image = upright(faces, "obama2.jpg")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257)  # 16-bit grey
    else:
        image = image.convert(mode)
    assert matcher.verify(encoded(image, "PNG"), photo(faces, "obama.jpg")).outcome == "match", mode


# -- the face itself -----------------------------------------------------------------------------


def test_photo_without_a_face(matcher):
    assert rejection(matcher, encoded(Image.new("RGB", (300, 300), (180, 170, 160)), "PNG")).code == "NO_FACE"


def test_face_too_small_in_absolute_pixels(matcher, faces):
    # obama_small.jpg shrunk to 160x120: its face is about 50 px, under the 80-px minimum.
    tiny = Image.open(faces / "obama_small.jpg").convert("RGB").resize((160, 120), Image.Resampling.LANCZOS)
    assert rejection(matcher, encoded(tiny, quality=95)).code == "FACE_TOO_SMALL"


def test_face_too_small_for_the_picture(matcher, faces):
    # The whole obama.jpg (face about 266 px) in the corner of a 5,000-px picture: about 5% of its side.
    canvas = Image.new("RGB", (5000, 5000), (200, 200, 200))
    canvas.paste(upright(faces, "obama.jpg"), (0, 0))
    assert rejection(matcher, encoded(canvas, quality=90)).code == "FACE_TOO_SMALL"


def test_heavily_blurred_photo_is_refused(matcher, faces):
    blurred = upright(faces, "obama.jpg").filter(ImageFilter.GaussianBlur(8))
    assert rejection(matcher, encoded(blurred, quality=92)).code == "IMAGE_BLURRY"
    slightly = upright(faces, "obama.jpg").filter(ImageFilter.GaussianBlur(1))
    assert matcher.verify(encoded(slightly, quality=92), photo(faces, "obama2.jpg")).outcome == "match"


def test_sharpness_ignores_light_but_not_blur(faces):
    face = np.asarray(upright(faces, "obama.jpg").crop((300, 250, 600, 550)))
    dark = (face * 0.25).astype(np.uint8)
    blurred = np.asarray(Image.fromarray(face).filter(ImageFilter.GaussianBlur(6)))
    assert face_sharpness(dark) > 0.8 * face_sharpness(face)
    assert face_sharpness(blurred) < 0.2 * face_sharpness(face)


# -- encode and the reference photo ----------------------------------------------------------------


def test_encode_returns_a_template_and_applies_the_checks(matcher, faces):
    template = matcher.encode(photo(faces, "obama.jpg"))
    assert template.dtype == np.float32 and template.shape == (128,)
    template[:] = 0  # a copy: the cache is not affected
    again = matcher.encode(photo(faces, "obama.jpg"))
    assert np.linalg.norm(again) > 0.5
    assert np.linalg.norm(again - matcher.encode(photo(faces, "obama2.jpg"))) <= 0.6
    with pytest.raises(ImageRejected) as caught:
        matcher.encode(photo(faces, "two_people.jpg"))
    assert caught.value.code == "MULTIPLE_FACES"


def test_a_bad_reference_is_recorded_but_is_not_the_applicants_fault(matcher, faces):
    blurred = encoded(upright(faces, "obama.jpg").filter(ImageFilter.GaussianBlur(8)), quality=92)
    for reference, problem in [
        (blurred, "IMAGE_BLURRY"),
        (b"GIF89a" + bytes(40), "IMAGE_TYPE_NOT_ALLOWED"),
        (photo(faces, "two_people.jpg"), "MULTIPLE_FACES"),
    ]:
        result = matcher.verify(photo(faces, "obama2.jpg"), reference)
        assert (result.outcome, result.reason_code) == ("cannot_decide", "REFERENCE_UNUSABLE")
        assert result.evidence.value["reference_problem"] == problem


# -- the message catalogue -------------------------------------------------------------------------


def test_every_code_has_indonesian_and_english_text():
    for code, (id_text, en_text) in FACE_MESSAGES.items():
        assert id_text and en_text and id_text != en_text, code
    assert face_message("IMAGE_TOO_LARGE", max_mb=5)[0].startswith("Berkas foto terlalu besar (maksimal 5 MB)")
    error = ImageRejected("IMAGE_DIMENSIONS_TOO_LARGE", max_side=12000, max_megapixels=64)
    assert "12000" in error.message and "12000" in error.message_id
