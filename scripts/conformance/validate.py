"""Validates Airbyte protocol messages (one JSON object per line) with the published pydantic
models (airbyte-protocol-models-pdv2), more strictly than the models alone:

- every line parses as an AirbyteMessage;
- the payload named by `type` is present (a RECORD has `record`, ...);
- no object carries fields the protocol does not define (the models accept extras), except the
  free-form places: record `data`, state blobs, schemas and connection specifications.

Usage: validate.py FILE... ; exits 1 and names file, line and problem on the first bad message.
"""

import sys

from airbyte_protocol.models import AirbyteMessage, AirbyteStateBlob
from pydantic import BaseModel, ValidationError

PAYLOAD = {
    "RECORD": "record",
    "STATE": "state",
    "LOG": "log",
    "SPEC": "spec",
    "CONNECTION_STATUS": "connectionStatus",
    "CATALOG": "catalog",
    "TRACE": "trace",
    "CONTROL": "control",
}


def extras(model, path):
    """Paths of fields the protocol does not define, anywhere under `model`."""
    found = []
    if isinstance(model, AirbyteStateBlob):
        return found
    if isinstance(model, BaseModel):
        for name in model.model_extra or {}:
            found.append(f"{path}.{name}")
        for name in type(model).model_fields:
            found.extend(extras(getattr(model, name), f"{path}.{name}"))
    elif isinstance(model, (list, tuple)):
        for index, item in enumerate(model):
            found.extend(extras(item, f"{path}[{index}]"))
    return found


def check(line):
    """The problem with one line, or None."""
    try:
        message = AirbyteMessage.model_validate_json(line)
    except ValidationError as error:
        return f"not an AirbyteMessage: {error}"
    kind = message.type.value
    if getattr(message, PAYLOAD[kind]) is None:
        return f"a {kind} message without `{PAYLOAD[kind]}`"
    unknown = extras(message, "message")
    if unknown:
        return "fields the protocol does not define: " + ", ".join(unknown)
    return None


def main(paths):
    count = 0
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                problem = check(line)
                if problem:
                    print(f"{path}:{number}: {problem}\n  {line.strip()[:300]}", file=sys.stderr)
                    return 1
                count += 1
    print(f"{count} messages valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
