"""PNG text chunks written by image generators: Automatic1111 / Forge / SD.Next, Fooocus,
SwarmUI, ComfyUI, NovelAI and InvokeAI, read into the prompt and settings they record."""

from __future__ import annotations

import json
import re

from .. import MODERATE, NEUTRAL, NONE, TOWARDS_AI, Finding
from .containers import Container, TextChunk
from .findings import could_not_read, describe_error, make_finding, one_line

# Codes of the sentences this module writes (findings.py says how they are used).
CODE_PNG_GENERATOR = "provenance.png.generator"  # chunks, generator
CODE_PNG_GENERATOR_SETTINGS = "provenance.png.generator_settings"  # chunks, generator, settings
CODE_PNG_GENERATOR_CHUNKS = "provenance.png.generator_chunks"  # chunks, generator
CODE_PNG_GENERATOR_CHUNKS_SETTINGS = "provenance.png.generator_chunks_settings"  # chunks, generator, settings
CODE_PNG_PARAMETERS_UNRECOGNISED = "provenance.png.parameters_unrecognised"

_MAX_LINE_PROMPT = 120


def png_generator_findings(container: Container) -> list[Finding]:
    """One finding per generator format recognised in the PNG text chunks."""
    texts: dict[str, TextChunk] = {}
    for chunk in container.text_chunks:
        texts.setdefault(chunk.keyword, chunk)  # first chunk of a keyword wins, as in Pillow
    findings = []
    for detect in (_parameters_finding, _comfyui_finding, _novelai_finding, _invokeai_finding):
        try:
            finding = detect(texts)
        except Exception as exc:  # one odd generator format must not hide the others
            finding = could_not_read("png_generator_parameters", "The PNG text chunks", describe_error(exc))
        if finding is not None:
            findings.append(finding)
    return findings


# Settings shown on the result line, in this order; the rest stay in details.
_SHOWN_GENERATOR_FIELDS = (
    ("Steps", "steps"),
    ("Sampler", "sampler"),
    ("CFG", "cfg_scale"),
    ("Seed", "seed"),
    ("Model", "model"),
)


def _generator_finding(keywords: list[str], generator: str, fields: dict, extra: dict | None = None) -> Finding:
    """TOWARDS_AI, MODERATE: generator settings in a real text chunk (unsigned, so not verified)."""
    chunk_names = "/".join(f"'{k}'" for k in keywords)
    noun = "chunk" if len(keywords) == 1 else "chunks"
    shown = []
    if fields.get("prompt"):
        shown.append(f'prompt "{one_line(fields["prompt"], _MAX_LINE_PROMPT)}"')
    for label, key in _SHOWN_GENERATOR_FIELDS:
        if fields.get(key) not in (None, ""):
            shown.append(f"{label} {one_line(fields[key], 80)}")
    line = f"PNG text {noun} {chunk_names} written by {generator}"
    line += (": " + ", ".join(shown)) if shown else "."
    if len(keywords) == 1:
        code = CODE_PNG_GENERATOR_SETTINGS if shown else CODE_PNG_GENERATOR
    else:
        code = CODE_PNG_GENERATOR_CHUNKS_SETTINGS if shown else CODE_PNG_GENERATOR_CHUNKS
    params = {"chunks": chunk_names, "generator": generator}
    if shown:
        params["settings"] = ", ".join(shown)
    details = {"generator": generator, "chunks": keywords, **{k: v for k, v in fields.items() if v not in (None, "")}}
    details.update(extra or {})
    return make_finding("png_generator_parameters", TOWARDS_AI, MODERATE, line, code, params, **details)


def _parameters_finding(texts: dict[str, TextChunk]) -> Finding | None:
    """Automatic1111 / Forge / SD.Next text, or Fooocus / SwarmUI JSON, in 'parameters'."""
    chunk = texts.get("parameters")
    if chunk is None:
        return None
    parsed = _json_object(chunk.text)
    if parsed is not None:
        lowered = {str(k).lower(): v for k, v in parsed.items()}
        if "fooocus_scheme" in texts or "fooocus" in chunk.text.lower():
            generator = "Fooocus"
        elif isinstance(lowered.get("sui_image_params"), dict):
            generator = "SwarmUI"
            lowered = {str(k).lower(): v for k, v in lowered["sui_image_params"].items()}
        elif len({"prompt", "steps", "seed", "sampler", "cfg_scale", "model"} & set(lowered)) >= 2:
            generator = "an image generator (JSON parameters)"
        else:
            generator = None
        if generator:
            fields = {
                "prompt": lowered.get("prompt"),
                "negative_prompt": lowered.get("negative prompt") or lowered.get("negativeprompt"),
                "steps": lowered.get("steps"),
                "sampler": lowered.get("sampler") or lowered.get("sampler_name"),
                "cfg_scale": lowered.get("guidance scale") or lowered.get("cfgscale") or lowered.get("cfg_scale"),
                "seed": lowered.get("seed"),
                "model": lowered.get("base model") or lowered.get("model"),
            }
            return _generator_finding(["parameters"], generator, fields, {"version": lowered.get("version")})
    a1111 = _parse_a1111(chunk.text)
    if a1111 is None:
        return make_finding(
            "png_generator_parameters", NEUTRAL, NONE,
            "PNG text chunk 'parameters' is present but not in a generator format we recognise.",
            CODE_PNG_PARAMETERS_UNRECOGNISED,
            chunk="parameters", text=chunk.text,
        )
    return _generator_finding(["parameters"], "Automatic1111", a1111["fields"], {"settings": a1111["settings"]})


_QUOTED = re.compile(r'"(?:\\.|[^\\"])*"')


def _parse_a1111(text: str) -> dict | None:
    """Split A1111 'parameters' into prompt, negative prompt and the 'Steps: ..., Sampler: ...' line."""
    lines = text.strip().splitlines()
    # A1111 writes the settings as the last line; look only near the end of hostile text.
    settings_index = next(
        (i for i in range(len(lines) - 1, max(-1, len(lines) - 21), -1) if re.match(r"\s*Steps:\s*\d", lines[i])),
        None,
    )
    if settings_index is None:
        return None
    prompt_lines, negative_lines, in_negative = [], [], False
    for line in lines[:settings_index]:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative_lines if in_negative else prompt_lines).append(line)
    settings = _a1111_settings(lines[settings_index])
    fields = {
        "prompt": "\n".join(prompt_lines).strip(),
        "negative_prompt": "\n".join(negative_lines).strip(),
        "steps": settings.get("Steps"),
        "sampler": settings.get("Sampler"),
        "cfg_scale": settings.get("CFG scale"),
        "seed": settings.get("Seed"),
        "size": settings.get("Size"),
        "model": settings.get("Model"),
        "model_hash": settings.get("Model hash"),
    }
    return {"fields": fields, "settings": settings}


def _a1111_settings(line: str) -> dict[str, str]:
    """'Steps: 20, Sampler: Euler a, Lora hashes: "a: 1, b: 2"' -> {"Steps": "20", ...}.

    A hand-written scan rather than one regex: the obvious pattern backtracks
    quadratically on a long hostile line.
    """
    settings: dict[str, str] = {}
    pos = 0
    while pos < len(line) and len(settings) < 40:
        colon = line.find(":", pos)
        if colon < 0:
            break
        key = line[pos:colon].strip()
        pos = colon + 1
        while pos < len(line) and line[pos] == " ":
            pos += 1
        quoted = _QUOTED.match(line, pos)
        if quoted:
            value, pos = quoted.group(0)[1:-1], quoted.end()
        comma = line.find(",", pos)
        end = comma if comma >= 0 else len(line)
        if not quoted:
            value = line[pos:end]
        if key:
            settings[key] = value.strip()
        pos = end + 1
    return settings


# ComfyUI node input -> our field name (the first node that has it wins).
_COMFYUI_INPUT_FIELDS = (
    ("ckpt_name", "model"),
    ("unet_name", "model"),
    ("steps", "steps"),
    ("sampler_name", "sampler"),
    ("cfg", "cfg_scale"),
    ("seed", "seed"),
    ("noise_seed", "seed"),
)


def _comfyui_finding(texts: dict[str, TextChunk]) -> Finding | None:
    prompt_graph = _json_object(texts["prompt"].text) if "prompt" in texts else None
    workflow = _json_object(texts["workflow"].text) if "workflow" in texts else None
    nodes = [n for n in (prompt_graph or {}).values() if isinstance(n, dict) and "class_type" in n]
    workflow_nodes = workflow.get("nodes") if isinstance(workflow, dict) else None
    workflow_nodes = workflow_nodes if isinstance(workflow_nodes, list) else []
    if not nodes and not workflow_nodes:
        return None
    keywords = [k for k, ok in (("prompt", bool(nodes)), ("workflow", bool(workflow_nodes))) if ok]
    class_types = []
    for node in nodes:
        name = str(node.get("class_type"))
        if name not in class_types:
            class_types.append(name)
    for node in workflow_nodes:
        name = str(node.get("type")) if isinstance(node, dict) else ""
        if name and name not in class_types:
            class_types.append(name)
    fields: dict = {}
    prompts = []
    for node in nodes:
        inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
        if "TextEncode" in str(node.get("class_type")) and isinstance(inputs.get("text"), str):
            prompts.append(inputs["text"])
        for key, field_name in _COMFYUI_INPUT_FIELDS:
            if key in inputs and not isinstance(inputs[key], list) and field_name not in fields:
                fields[field_name] = inputs[key]
    if prompts:
        fields["prompt"] = prompts[0]
        fields["other_prompts"] = prompts[1:5]
    return _generator_finding(keywords, "ComfyUI", fields, {"node_types": class_types[:30]})


def _novelai_finding(texts: dict[str, TextChunk]) -> Finding | None:
    software = texts["Software"].text if "Software" in texts else ""
    source = texts["Source"].text if "Source" in texts else ""
    comment = _json_object(texts["Comment"].text) if "Comment" in texts else None
    if "novelai" not in (software + " " + source).lower() or comment is None:
        return None
    if not {"steps", "seed", "sampler", "prompt"} & set(comment):
        return None
    fields = {
        "prompt": comment.get("prompt") or (texts["Description"].text if "Description" in texts else None),
        "negative_prompt": comment.get("uc"),
        "steps": comment.get("steps"),
        "sampler": comment.get("sampler"),
        "cfg_scale": comment.get("scale"),
        "seed": comment.get("seed"),
        "model": source or None,
    }
    return _generator_finding(["Software", "Comment"], "NovelAI", fields)


def _invokeai_finding(texts: dict[str, TextChunk]) -> Finding | None:
    if "invokeai_metadata" in texts:
        meta = _json_object(texts["invokeai_metadata"].text)
        if meta is None:
            return None
        model = meta.get("model")
        fields = {
            "prompt": meta.get("positive_prompt"),
            "negative_prompt": meta.get("negative_prompt"),
            "steps": meta.get("steps"),
            "sampler": meta.get("scheduler"),
            "cfg_scale": meta.get("cfg_scale"),
            "seed": meta.get("seed"),
            "model": model.get("name") if isinstance(model, dict) else model,
        }
        return _generator_finding(["invokeai_metadata"], "InvokeAI", fields)
    if "sd-metadata" in texts:
        meta = _json_object(texts["sd-metadata"].text)
        if meta is None:
            return None
        image = meta.get("image") if isinstance(meta.get("image"), dict) else {}
        prompt = image.get("prompt")
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], dict):
            prompt = prompt[0].get("prompt")
        fields = {
            "prompt": prompt,
            "steps": image.get("steps"),
            "sampler": image.get("sampler"),
            "cfg_scale": image.get("cfg_scale"),
            "seed": image.get("seed"),
            "model": meta.get("model_weights") or meta.get("model"),
        }
        return _generator_finding(["sd-metadata"], "InvokeAI", fields)
    if "Dream" in texts and texts["Dream"].text.strip():
        dream = texts["Dream"].text.strip()
        prompt = re.match(r'\s*"((?:\\.|[^"\\])*)"', dream)
        steps = re.search(r"\s-s\s*(\d+)", dream)
        seed = re.search(r"\s-S\s*(\d+)", dream)
        fields = {
            "prompt": prompt.group(1) if prompt else dream,
            "steps": steps.group(1) if steps else None,
            "seed": seed.group(1) if seed else None,
        }
        return _generator_finding(["Dream"], "InvokeAI (dream)", fields)
    return None


def _json_object(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None

