"""Generator text chunks in a PNG as a reviewer sees them: which generator, which settings,
and that the marker points to AI."""

from __future__ import annotations

import json

import pytest

from detector.evidence import MODERATE, TOWARDS_AI
from detector.evidence.provenance import read_provenance

from .provenance_files import A1111_PARAMETERS, _assert_well_formed, _only, _png_with_text


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
