#!/usr/bin/env python3
"""The README's complete connector as a crate of its own, and checks of what it prints.

    readme.py crate README RUNTIME DEST    write DEST/Cargo.toml, DEST/src/main.rs, DEST/config.json
    readme.py catalog DISCOVER_OUTPUT      print a configured catalog selecting every stream
    readme.py check COMMAND OUTPUT         check a command's stdout is protocol messages

`crate` takes each fenced block that follows a `<!-- readme-connector: PATH -->` comment in the
README, as written. The one change: the `tidemark-cdk` dependency also gets `path = RUNTIME`,
keeping the version and features the README gives, so the crate builds against this checkout.
The crate gets its own `[workspace]` table, so it is not a member of the checkout's workspace.
Standard library only (Python 3.11+).
"""

import json
import re
import sys
import tomllib
from pathlib import Path

MARKER = re.compile(r"^<!--\s*readme-connector:\s*(\S+)\s*-->\s*$")
FENCE = re.compile(r"^(`{3,}|~{3,})")
# The files the connector needs; each must have its block in the README.
REQUIRED = ("Cargo.toml", "src/main.rs", "config.json")
PACKAGE = "tidemark-cdk"
# Every message type of the protocol, and the field holding its payload.
PAYLOADS = {
    "RECORD": "record", "STATE": "state", "LOG": "log", "SPEC": "spec",
    "CONNECTION_STATUS": "connectionStatus", "CATALOG": "catalog", "TRACE": "trace",
    "CONTROL": "control",
}


def fail(message):
    sys.exit(f"readme-connector: {message}")


def blocks(readme):
    """The fenced block after each marker, by the path the marker names."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    found = {}
    for number, line in enumerate(lines):
        marker = MARKER.match(line)
        if not marker:
            continue
        path = marker.group(1)
        start = number + 1
        while start < len(lines) and not lines[start].strip():
            start += 1
        fence = FENCE.match(lines[start]) if start < len(lines) else None
        if not fence:
            fail(f"{readme}:{number + 1}: the `readme-connector: {path}` comment is not followed by a fenced code block")
        end = start + 1
        while end < len(lines) and not lines[end].startswith(fence.group(1)):
            end += 1
        if end == len(lines):
            fail(f"{readme}:{start + 1}: the code block for {path} is not closed")
        if path in found:
            fail(f"{readme}:{number + 1}: a second block for {path}")
        found[path] = "\n".join(lines[start + 1:end]) + "\n"
    missing = [path for path in REQUIRED if path not in found]
    if missing:
        fail(f"{readme} has no block for {', '.join(missing)} "
             f"(a fenced block right after `<!-- readme-connector: PATH -->`)")
    return found


def toml_key(key):
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    fail(f"cannot write {value!r} back as TOML")


def manifest(text, runtime):
    """The crate's Cargo.toml: the README's tables, with tidemark-cdk from this checkout."""
    try:
        given = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        fail(f"the README's Cargo.toml block is not TOML: {error}")
    if "dependencies" not in given:
        fail("the README's Cargo.toml block has no [dependencies] table")
    pointed = 0
    for table in ("dependencies", "dev-dependencies", "build-dependencies"):
        for name, spec in given.get(table, {}).items():
            spec = {"version": spec} if isinstance(spec, str) else dict(spec)
            if spec.get("package", name) != PACKAGE:
                continue
            if "version" not in spec:
                fail(f"the README's `{name}` dependency gives no version")
            spec["path"] = str(runtime)
            given[table][name] = spec
            pointed += 1
    if not pointed:
        fail(f"the README's Cargo.toml block does not depend on `{PACKAGE}`")
    out = [
        "[package]",
        'name = "readme-connector"',
        'version = "0.1.0"',
        'edition = "2024"',
        "publish = false",
        "",
        "# Not a member of the workspace whose target/ holds this crate.",
        "[workspace]",
    ]
    for table, entries in given.items():
        if table in ("package", "workspace"):
            fail(f"the README's Cargo.toml block has a [{table}] table: give only dependencies")
        if not isinstance(entries, dict):
            fail(f"the README's Cargo.toml block sets `{table}` outside a table")
        out += ["", f"[{table}]"]
        out += [f"{toml_key(name)} = {toml_value(spec)}" for name, spec in entries.items()]
    return "\n".join(out) + "\n"


def make_crate(readme, runtime, dest):
    found = blocks(Path(readme))
    dest = Path(dest)
    for path, text in found.items():
        if path == "Cargo.toml":
            text = manifest(text, Path(runtime).resolve())
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def messages(output):
    """The messages of a stdout file, each checked to be one protocol message."""
    lines = Path(output).read_text(encoding="utf-8").splitlines()
    if not lines:
        fail(f"{output}: nothing on stdout")
    parsed = []
    for number, line in enumerate(lines, 1):
        try:
            message = json.loads(line)
        except json.JSONDecodeError as error:
            fail(f"{output}:{number}: not JSON ({error}): {line[:200]}")
        kind = message.get("type") if isinstance(message, dict) else None
        if kind not in PAYLOADS or not isinstance(message.get(PAYLOADS[kind]), dict):
            fail(f"{output}:{number}: not an Airbyte protocol message: {line[:200]}")
        parsed.append(message)
    return parsed


def of_type(found, kind, output):
    chosen = [message[PAYLOADS[kind]] for message in found if message["type"] == kind]
    if len(chosen) != 1:
        fail(f"{output}: {len(chosen)} {kind} messages, expected one")
    return chosen[0]


def check(command, output):
    found = messages(output)
    if command == "spec":
        spec = of_type(found, "SPEC", output)
        if not isinstance(spec.get("connectionSpecification"), dict):
            fail(f"{output}: the SPEC has no connectionSpecification")
    elif command == "check":
        status = of_type(found, "CONNECTION_STATUS", output)
        if status.get("status") != "SUCCEEDED":
            fail(f"{output}: check did not succeed with the README's config: {status}")
    elif command == "discover":
        catalog = of_type(found, "CATALOG", output)
        if not catalog.get("streams"):
            fail(f"{output}: the catalog has no streams")
    elif command == "read":
        if not any(message["type"] == "STATE" for message in found):
            fail(f"{output}: read emitted no STATE")
    else:
        fail(f"no check for `{command}`")


def configured_catalog(output):
    catalog = of_type(messages(output), "CATALOG", output)
    streams = []
    for stream in catalog["streams"]:
        incremental = "incremental" in stream.get("supported_sync_modes", [])
        streams.append({
            "stream": stream,
            "sync_mode": "incremental" if incremental else "full_refresh",
            "cursor_field": stream.get("default_cursor_field", []),
            "destination_sync_mode": "append",
        })
    return {"streams": streams}


def main(args):
    if len(args) == 4 and args[0] == "crate":
        make_crate(*args[1:])
    elif len(args) == 2 and args[0] == "catalog":
        print(json.dumps(configured_catalog(args[1]), indent=2))
    elif len(args) == 3 and args[0] == "check":
        check(args[1], args[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
