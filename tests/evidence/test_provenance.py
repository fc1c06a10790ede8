"""The provenance layer as a reviewer sees it: which way each marker points, how strongly,
and what the result page says. Every file is built in the test with Pillow (and c2pa for
signed manifests); hostile metadata must produce UNREADABLE findings, never exceptions.
"""

from __future__ import annotations

import http.server
import io
import json
import random
import struct
import threading
import zlib

import pytest
from PIL import Image, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from detector.evidence import MODERATE, NEUTRAL, NONE, STRONG, TOWARDS_AI, TOWARDS_HUMAN, UNREADABLE, WEAK, Finding
from detector.evidence.provenance import GENERATOR_NAMES, _c2pa_settings, read_provenance

from .c2pa_signing import IPTC_SOURCE_TYPE, sign_image, signing_chain

A1111_PARAMETERS = (
    "a watercolor fox in a misty forest, highly detailed\n"
    "Negative prompt: blurry, lowres\n"
    'Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 3141592, Size: 768x512, '
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "fox: 1a2b, mist: 3c4d", Version: v1.7.0'
)
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"


def _xmp(source_type: str = "trainedAlgorithmicMedia", creator_tool: str = "Adobe Photoshop 25.0") -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        f' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="{creator_tool}">'
        f"<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/{source_type}"
        "</Iptc4xmpExt:DigitalSourceType></rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode("utf-8")


def _image(fmt: str, size=(32, 24), **save_args) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 80, 200)).save(buffer, fmt, **save_args)
    return buffer.getvalue()


def _png_with_text(*chunks: tuple[str, str, str]) -> bytes:
    """chunks: (kind, keyword, text) with kind 'tEXt', 'zTXt' or 'iTXt'."""
    info = PngImagePlugin.PngInfo()
    for kind, keyword, text in chunks:
        if kind == "iTXt":
            info.add_itxt(keyword, text)
        else:
            info.add_text(keyword, text, zip=(kind == "zTXt"))
    return _image("PNG", pnginfo=info)


def _png_chunk(chunk_type: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + chunk_type + body + struct.pack(">I", zlib.crc32(chunk_type + body))


def _insert_png_chunk(png: bytes, chunk: bytes) -> bytes:
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + chunk + png[iend:]


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _insert_jpeg_segment(jpeg: bytes, segment: bytes) -> bytes:
    return jpeg[:2] + segment + jpeg[2:]


def _jpeg_segments(jpeg: bytes) -> list[tuple[int, int, int]]:
    """(offset, marker, length) of each segment before the first scan."""
    segments, pos = [], 2
    while pos < len(jpeg):
        marker, length = jpeg[pos + 1], struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
        segments.append((pos, marker, length))
        if marker == 0xDA:
            return segments
        pos += 2 + length
    return segments


def _only(findings: list[Finding], signal: str) -> Finding:
    matching = [f for f in findings if f.signal == signal]
    assert len(matching) == 1, findings
    return matching[0]


def _assert_well_formed(findings) -> None:
    assert isinstance(findings, list)
    for finding in findings:
        assert isinstance(finding, Finding)
        assert finding.layer == "provenance"
        json.dumps(finding.as_dict())  # details must be JSON-ready
        if finding.direction == UNREADABLE:
            assert finding.strength == NONE and not finding.verified


# --- PNG generator text chunks --------------------------------------------------------


@pytest.mark.parametrize("kind", ["tEXt", "zTXt", "iTXt"])
def test_automatic1111_parameters_in_a_png_text_chunk_point_to_ai(kind):
    findings = read_provenance(_png_with_text((kind, "parameters", A1111_PARAMETERS)))

    finding = _only(findings, "png_generator_parameters")
    assert (finding.direction, finding.strength, finding.verified) == (TOWARDS_AI, MODERATE, False)
    assert finding.line.startswith("PNG text chunk 'parameters' written by Automatic1111")
    assert "Steps 28" in finding.line and "Sampler DPM++ 2M Karras" in finding.line
    assert finding.details["steps"] == "28"
    assert finding.details["sampler"] == "DPM++ 2M Karras"
    assert finding.details["prompt"] == "a watercolor fox in a misty forest, highly detailed"
    assert finding.details["negative_prompt"] == "blurry, lowres"
    assert finding.details["model"] == "v1-5-pruned-emaonly"
    assert finding.details["settings"]["Lora hashes"] == "fox: 1a2b, mist: 3c4d"
    _assert_well_formed(findings)


def test_comfyui_prompt_json_points_to_ai():
    graph = {
        "3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 20, "cfg": 8, "sampler_name": "euler",
                                                     "model": ["4", 0], "positive": ["6", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "an astronaut riding a horse", "clip": ["4", 1]}},
    }
    workflow = {"nodes": [{"id": 3, "type": "KSampler"}, {"id": 6, "type": "CLIPTextEncode"}]}
    png = _png_with_text(("tEXt", "prompt", json.dumps(graph)), ("tEXt", "workflow", json.dumps(workflow)))
    findings = read_provenance(png)

    finding = _only(findings, "png_generator_parameters")
    assert (finding.direction, finding.strength, finding.verified) == (TOWARDS_AI, MODERATE, False)
    assert "ComfyUI" in finding.line and '"an astronaut riding a horse"' in finding.line
    assert finding.details["generator"] == "ComfyUI"
    assert finding.details["model"] == "sd_xl_base_1.0.safetensors"
    assert finding.details["steps"] == 20 and finding.details["seed"] == 42
    assert "KSampler" in finding.details["node_types"]


@pytest.mark.parametrize(
    "chunks, generator",
    [
        ([("tEXt", "Software", "NovelAI"), ("tEXt", "Source", "NovelAI Diffusion V3"),
          ("tEXt", "Comment", json.dumps({"prompt": "cherry blossoms", "steps": 28, "seed": 7}))],
         "NovelAI"),
        ([("iTXt", "invokeai_metadata", json.dumps({"positive_prompt": "castle at dusk", "steps": 30, "seed": 9,
                                                     "scheduler": "euler", "model": {"name": "sdxl"}}))], "InvokeAI"),
        ([("tEXt", "Dream", '"castle at dusk" -s 50 -S 1234 -W 512 -H 512 -C 7.5 -A k_lms')], "InvokeAI (dream)"),
        ([("tEXt", "fooocus_scheme", "fooocus"),
          ("tEXt", "parameters", json.dumps({"Prompt": "a red car", "Steps": 30, "Version": "Fooocus v2.5.0"}))],
         "Fooocus"),
    ],
)
def test_other_generator_text_chunks_point_to_ai(chunks, generator):
    finding = _only(read_provenance(_png_with_text(*chunks)), "png_generator_parameters")
    assert (finding.direction, finding.strength) == (TOWARDS_AI, MODERATE)
    assert finding.details["generator"] == generator
    assert f"written by {generator}" in finding.line


def test_generator_text_outside_a_png_text_chunk_is_not_honoured():
    marker = b"parameters\x00" + A1111_PARAMETERS.encode()
    # A one-row grey PNG with a stored (uncompressed) IDAT: its pixel bytes are the marker.
    header = struct.pack(">IIBBBBB", len(marker), 1, 8, 0, 0, 0, 0)
    inside_idat = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" + marker, 0))
        + _png_chunk(b"IEND", b"")
    )
    with Image.open(io.BytesIO(inside_idat)) as image:
        assert image.tobytes() == marker
    png = _image("PNG")
    after_iend = png + _png_chunk(b"tEXt", marker)
    trailing_garbage = png + A1111_PARAMETERS.encode()
    for data in (inside_idat, after_iend, trailing_garbage):
        findings = read_provenance(data)
        assert findings == [], findings


def test_generator_text_in_a_jpeg_comment_or_after_the_image_is_not_honoured():
    in_comment = _image("JPEG", comment=A1111_PARAMETERS.encode())
    assert b"Steps: 28" in in_comment
    after_eoi = _image("JPEG") + b"parameters\x00" + A1111_PARAMETERS.encode() + _xmp()
    for data in (in_comment, after_eoi):
        assert read_provenance(data) == []


def test_xmp_text_outside_its_app1_container_is_not_honoured():
    in_comment = _image("JPEG", comment=XMP_HEADER + _xmp())
    assert read_provenance(in_comment) == []


# --- Camera EXIF and the Software tag ---------------------------------------------------


def _camera_exif(software: str | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R5"
    if software:
        exif[0x0131] = software
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[0x829A] = IFDRational(1, 250)  # ExposureTime
    exif_ifd[0x829D] = IFDRational(4, 1)  # FNumber
    exif_ifd[0x8827] = 200  # ISO
    exif_ifd[0x9003] = "2024:05:01 10:22:31"  # DateTimeOriginal
    return exif


def test_coherent_camera_exif_in_a_jpeg_points_weakly_to_a_human():
    findings = read_provenance(_image("JPEG", exif=_camera_exif()))

    finding = _only(findings, "camera_exif")
    assert (finding.direction, finding.strength, finding.verified) == (TOWARDS_HUMAN, WEAK, False)
    assert finding.line == "Camera EXIF: Canon EOS R5, 1/250 s, f/4, ISO 200, 2024-05-01 10:22"
    assert finding.details["make"] == "Canon" and finding.details["model"] == "Canon EOS R5"
    assert finding.details["exposure_time_s"] == pytest.approx(0.004)
    assert finding.details["f_number"] == 4 and finding.details["iso"] == 200
    assert finding.details["datetime_original"] == "2024-05-01 10:22"
    _assert_well_formed(findings)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_camera_exif_is_read_from_png_and_webp_exif_chunks(fmt):
    finding = _only(read_provenance(_image(fmt, exif=_camera_exif())), "camera_exif")
    assert (finding.direction, finding.strength) == (TOWARDS_HUMAN, WEAK)


def test_camera_exif_is_read_from_tiff_ifds():
    with Image.open(io.BytesIO(_image("JPEG", exif=_camera_exif()))) as jpeg:
        buffer = io.BytesIO()
        jpeg.save(buffer, "TIFF", exif=jpeg.getexif())  # Pillow writes the Exif sub-IFD this way
    finding = _only(read_provenance(buffer.getvalue()), "camera_exif")
    assert (finding.direction, finding.strength) == (TOWARDS_HUMAN, WEAK)
    assert finding.line.startswith("Camera EXIF: Canon EOS R5, 1/250 s, f/4, ISO 200")


def test_make_and_model_alone_are_not_counted_as_a_camera():
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R5"
    finding = _only(read_provenance(_image("JPEG", exif=exif)), "camera_exif")
    assert (finding.direction, finding.strength) == (NEUTRAL, NONE)
    assert "too incomplete" in finding.line


@pytest.mark.parametrize(
    "software, direction, strength",
    [
        ("Midjourney", TOWARDS_AI, WEAK),
        ("DALL-E 3", TOWARDS_AI, WEAK),
        ("stable-diffusion-webui", TOWARDS_AI, WEAK),
        ("Adobe Photoshop 25.0 (Windows)", NEUTRAL, NONE),
        ("Imagenomic Portraiture 4", NEUTRAL, NONE),  # not "Imagen"
    ],
)
def test_exif_software_tag(software, direction, strength):
    findings = read_provenance(_image("JPEG", exif=_camera_exif(software=software)))
    finding = _only(findings, "software_tag")
    assert (finding.direction, finding.strength, finding.verified) == (direction, strength, False)
    assert software in finding.line
    # The camera fields are still reported beside it.
    assert _only(findings, "camera_exif").direction == TOWARDS_HUMAN


def test_png_software_chunk_naming_a_generator_points_weakly_to_ai():
    finding = _only(read_provenance(_png_with_text(("iTXt", "Software", "DALL·E 3"))), "software_tag")
    assert (finding.direction, finding.strength) == (TOWARDS_AI, WEAK)
    assert finding.details["generator"] == "DALL-E"


def test_generator_names_is_a_tuple_of_names():
    assert isinstance(GENERATOR_NAMES, tuple) and "Midjourney" in GENERATOR_NAMES and "ComfyUI" in GENERATOR_NAMES


# --- XMP --------------------------------------------------------------------------------


def test_xmp_digital_source_type_in_jpeg_app1_points_to_ai_unverified():
    jpeg = _insert_jpeg_segment(_image("JPEG"), _jpeg_segment(0xE1, XMP_HEADER + _xmp("trainedAlgorithmicMedia")))
    findings = read_provenance(jpeg)

    finding = _only(findings, "xmp_digital_source_type")
    assert (finding.direction, finding.strength, finding.verified) == (TOWARDS_AI, MODERATE, False)
    assert "trainedAlgorithmicMedia" in finding.line and "unsigned" in finding.line
    assert finding.details["digital_source_type"] == IPTC_SOURCE_TYPE + "trainedAlgorithmicMedia"
    creator = _only(findings, "xmp_creator_tool")
    assert (creator.direction, creator.line) == (NEUTRAL, "XMP CreatorTool: Adobe Photoshop 25.0.")


@pytest.mark.parametrize(
    "source_type, direction, strength",
    [
        ("compositeWithTrainedAlgorithmicMedia", TOWARDS_AI, WEAK),
        ("digitalCapture", TOWARDS_HUMAN, WEAK),
        ("algorithmicallyEnhanced", NEUTRAL, NONE),
    ],
)
def test_xmp_digital_source_types_in_png_itxt(source_type, direction, strength):
    png = _png_with_text(("iTXt", "XML:com.adobe.xmp", _xmp(source_type).decode()))
    finding = _only(read_provenance(png), "xmp_digital_source_type")
    assert (finding.direction, finding.strength, finding.verified) == (direction, strength, False)


@pytest.mark.parametrize("fmt", ["WEBP", "TIFF"])
def test_xmp_is_read_from_webp_and_tiff(fmt):
    xmp = _xmp(creator_tool="Midjourney")
    save_args = {"xmp": xmp} if fmt == "WEBP" else {"tiffinfo": {700: xmp}}  # TIFF tag 700 holds XMP
    findings = read_provenance(_image(fmt, **save_args))
    assert _only(findings, "xmp_digital_source_type").direction == TOWARDS_AI
    creator = _only(findings, "xmp_creator_tool")
    assert (creator.direction, creator.strength) == (TOWARDS_AI, WEAK)
    assert "Midjourney" in creator.line


# --- C2PA -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_ai_jpeg() -> bytes:
    return sign_image(_image("JPEG", size=(64, 48)), "image/jpeg", digital_source_type="trainedAlgorithmicMedia")


def test_signed_ai_manifest_without_trust_anchors_is_valid_verified_but_not_decisive(signed_ai_jpeg):
    findings = read_provenance(signed_ai_jpeg)

    finding = _only(findings, "c2pa")
    assert (finding.direction, finding.strength, finding.verified) == (TOWARDS_AI, MODERATE, True)
    # The signature and hashes check out, but no configured anchor vouches for the
    # certificate: c2pa reports "Valid" and lists signingCredential.untrusted.
    assert finding.details["validation_state"] == "Valid"
    assert finding.details["validation_errors"] == ["signingCredential.untrusted"]
    assert finding.details["actions"] == ["c2pa.created"]
    assert finding.details["digital_source_types"] == [IPTC_SOURCE_TYPE + "trainedAlgorithmicMedia"]
    assert finding.details["claim_generator"] == "aiornot-tests 1.0"
    assert finding.details["signer"]["common_name"] == "Test C2PA Signer"
    assert finding.line.startswith(
        "C2PA manifest (Valid: signature valid, certificate not on the trust list) declares the image AI-generated"
    )
    _assert_well_formed(findings)


def test_signed_ai_manifest_with_the_test_ca_as_anchor_is_trusted(signed_ai_jpeg):
    finding = _only(read_provenance(signed_ai_jpeg, trust_anchors_pem=signing_chain().ca_pem), "c2pa")
    assert (finding.direction, finding.strength, finding.verified) == (TOWARDS_AI, STRONG, True)
    assert finding.details["validation_state"] == "Trusted"
    assert finding.details["validation_errors"] == []
    assert finding.details["trust_anchors_used"] is True
    assert "Trusted: signature valid, certificate trusted" in finding.line


def test_an_unrelated_trust_anchor_leaves_the_manifest_only_valid(signed_ai_jpeg):
    other_ca = signing_chain("Someone Else").ca_pem
    finding = _only(read_provenance(signed_ai_jpeg, trust_anchors_pem=other_ca), "c2pa")
    assert finding.details["validation_state"] == "Valid"


def test_unusable_trust_anchor_setting_falls_back_to_untrusted_validation(signed_ai_jpeg):
    finding = _only(read_provenance(signed_ai_jpeg, trust_anchors_pem="not a certificate"), "c2pa")
    assert finding.details["validation_state"] == "Valid"
    assert "no readable PEM certificate" in finding.details["trust_anchors_problem"]


def test_tampered_signed_image_fails_validation_and_says_so(signed_ai_jpeg):
    scan_start = _jpeg_segments(signed_ai_jpeg)[-1][0]
    tampered = bytearray(signed_ai_jpeg)
    for offset in range(scan_start + 20, scan_start + 26):  # entropy-coded pixel data
        tampered[offset] ^= 0x5A
    findings = read_provenance(bytes(tampered), trust_anchors_pem=signing_chain().ca_pem)

    finding = _only(findings, "c2pa")
    assert (finding.direction, finding.strength, finding.verified) == (UNREADABLE, NONE, False)
    assert finding.details["validation_state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in finding.details["validation_errors"]
    assert finding.line.startswith("C2PA manifest present but validation failed: assertion hash mismatch")
    assert "changed after signing" in finding.line
    assert "claims trainedAlgorithmicMedia, but an unvalidated claim proves nothing" in finding.line


@pytest.mark.parametrize(
    "source_type, anchors, direction, strength",
    [
        ("digitalCapture", True, TOWARDS_HUMAN, MODERATE),
        ("digitalCapture", False, TOWARDS_HUMAN, WEAK),
        ("compositeWithTrainedAlgorithmicMedia", False, TOWARDS_AI, MODERATE),
        ("algorithmicallyEnhanced", True, NEUTRAL, NONE),
    ],
)
def test_signed_png_source_types(source_type, anchors, direction, strength):
    png = sign_image(_image("PNG"), "image/png", digital_source_type=source_type)
    finding = _only(read_provenance(png, trust_anchors_pem=signing_chain().ca_pem if anchors else None), "c2pa")
    assert (finding.direction, finding.strength, finding.verified) == (direction, strength, True)
    assert finding.details["validation_state"] == ("Trusted" if anchors else "Valid")


def test_remote_manifests_are_never_fetched():
    requests = []

    class RecordingHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), RecordingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/manifest.c2pa"
        jpeg = sign_image(
            _image("JPEG"), "image/jpeg", digital_source_type="trainedAlgorithmicMedia", remote_manifest_url=url
        )
        findings = read_provenance(jpeg)
    finally:
        server.shutdown()
        server.server_close()

    assert requests == []
    finding = _only(findings, "c2pa")
    assert (finding.direction, finding.strength) == (UNREADABLE, NONE)
    assert url in finding.line and "not fetched" in finding.line


def test_c2pa_settings_are_offline():
    settings = _c2pa_settings("PEM", 4_000_000)
    assert settings["verify"]["remote_manifest_fetch"] is False
    assert settings["verify"]["ocsp_fetch"] is False
    assert settings["core"]["allowed_network_hosts"] == []
    assert settings["trust"]["trust_anchors"] == "PEM"


def test_no_manifest_gives_no_c2pa_finding():
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"):
        assert read_provenance(_image(fmt)) == []


# --- Hostile and broken metadata ----------------------------------------------------------


def _unreadable_only(findings, signal) -> Finding:
    _assert_well_formed(findings)
    finding = _only(findings, signal)
    assert (finding.direction, finding.strength, finding.verified) == (UNREADABLE, NONE, False)
    return finding


def test_garbage_app11_jumbf_segment_is_unreadable():
    jumbf = b"JP\x00\x01\x00\x00\x00\x01" + struct.pack(">I", 40) + b"jumb" + b"\x00" * 32
    jpeg = _insert_jpeg_segment(_image("JPEG"), _jpeg_segment(0xEB, jumbf))
    finding = _unreadable_only(read_provenance(jpeg), "c2pa")
    assert finding.line.startswith("The C2PA manifest could not be read")


def test_truncated_c2pa_manifest_is_unreadable(signed_ai_jpeg):
    offset, marker, length = next(s for s in _jpeg_segments(signed_ai_jpeg) if s[1] == 0xEB)
    payload = signed_ai_jpeg[offset + 4 : offset + 2 + length]
    half_a_manifest = _jpeg_segment(0xEB, payload[: len(payload) // 2])
    truncated = signed_ai_jpeg[:offset] + half_a_manifest + signed_ai_jpeg[offset + 2 + length :]
    finding = _unreadable_only(read_provenance(truncated), "c2pa")
    assert finding.line.startswith("The C2PA manifest could not be read")


def test_oversized_c2pa_block_is_not_parsed(signed_ai_jpeg):
    finding = _unreadable_only(read_provenance(signed_ai_jpeg, max_metadata_bytes=1000), "c2pa")
    assert finding.line.startswith("The C2PA manifest could not be read: it is ")
    assert "over the 1.0 KB limit" in finding.line


def test_malformed_xmp_is_unreadable():
    unclosed = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>"
    jpeg = _insert_jpeg_segment(_image("JPEG"), _jpeg_segment(0xE1, XMP_HEADER + unclosed))
    finding = _unreadable_only(read_provenance(jpeg), "xmp_digital_source_type")
    assert "malformed XML" in finding.line


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_xmp_with_an_entity_bomb_is_refused_unparsed(encoding):
    bomb = (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'>&lol3;</x:xmpmeta>"
    ).encode(encoding)
    jpeg = _insert_jpeg_segment(_image("JPEG"), _jpeg_segment(0xE1, XMP_HEADER + bomb))
    finding = _unreadable_only(read_provenance(jpeg), "xmp_digital_source_type")
    assert "DOCTYPE" in finding.line


def test_ztxt_decompression_bomb_is_not_inflated():
    bomb = zlib.compress(b"\x00" * 20_000_000, 9)  # ~20 KB that would inflate to 20 MB
    png = _insert_png_chunk(_image("PNG"), _png_chunk(b"zTXt", b"parameters\x00\x00" + bomb))
    finding = _unreadable_only(read_provenance(png, max_metadata_bytes=1_000_000), "png_generator_parameters")
    assert "decompression bomb" in finding.line and "'parameters'" in finding.line


def test_oversized_text_chunk_is_unreadable():
    png = _png_with_text(("tEXt", "parameters", A1111_PARAMETERS + " " * 5000))
    finding = _unreadable_only(read_provenance(png, max_metadata_bytes=2000), "png_generator_parameters")
    assert "over the" in finding.line


def test_text_chunk_with_a_bad_crc_is_unreadable():
    chunk = bytearray(_png_chunk(b"tEXt", b"parameters\x00" + A1111_PARAMETERS.encode()))
    chunk[-1] ^= 0xFF
    png = _insert_png_chunk(_image("PNG"), bytes(chunk))
    finding = _unreadable_only(read_provenance(png), "png_generator_parameters")
    assert "CRC" in finding.line


def test_broken_exif_is_unreadable():
    jpeg = _insert_jpeg_segment(_image("JPEG"), _jpeg_segment(0xE1, b"Exif\x00\x00garbage, not TIFF"))
    finding = _unreadable_only(read_provenance(jpeg), "camera_exif")
    assert finding.line.startswith("The EXIF metadata could not be read")


@pytest.mark.parametrize("data", [None, "not bytes"])
def test_non_bytes_input_gives_an_unreadable_finding(data):
    assert read_provenance(data)[0].direction == UNREADABLE


def test_random_and_truncated_bytes_never_raise(signed_ai_jpeg):
    rng = random.Random(20240501)
    rich_png = _insert_png_chunk(
        _png_with_text(("zTXt", "parameters", A1111_PARAMETERS), ("iTXt", "XML:com.adobe.xmp", _xmp().decode())),
        _png_chunk(b"eXIf", _camera_exif().tobytes()[6:]),
    )
    samples = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\xff\xff\xff\xffWEBP", b"II*\x00", b"GIF89a", b"BM"]
    samples += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400))) for _ in range(10)]
    for source in (signed_ai_jpeg, rich_png):
        samples += [source[: rng.randint(1, len(source))] for _ in range(8)]
        for _ in range(8):
            flipped = bytearray(source)
            for _ in range(5):
                flipped[rng.randrange(len(flipped))] = rng.getrandbits(8)
            samples.append(bytes(flipped))
    for sample in samples:
        _assert_well_formed(read_provenance(sample))
