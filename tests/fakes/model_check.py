"""Validate a request's parameters against an AWS service model, as the
service's front end does before anything else: Debian's python3-botocore
ships the models (botocore/data/<service>/<version>/service-2.json), so a
fake checks what the real API reference states, not what the test author
remembered.

check(service, operation, params) returns a list of problems, each naming
the parameter path ("References.Recording.Type: 'LINK' is not one of URL,
…"); empty when the request is valid.  It checks what botocore's own client
validator checks (required members, unknown members, types, min lengths and
ranges: botocore.validate.ParamValidator) and what that validator leaves to
the service: maximum lengths and sizes, enums and patterns.  Lengths are
counted in characters (code points), as the models' min/max mean for
strings.

`extra` adds members a newer API has and Debian's model (1.29) lacks:
{"StartTaskContactRequest": {"RelatedContactId": {"type": "string", "min": 1,
"max": 256}}}; each use is documented where the fake adds it.
"""
import re

import botocore.session
import botocore.validate

_SESSION = botocore.session.get_session()
_MODELS = {}


def model(service):
    if service not in _MODELS:
        _MODELS[service] = _SESSION.get_service_model(service)
    return _MODELS[service]


def operation(service, name):
    return model(service).operation_model(name)


def _walk(shape, value, path, out, extra):
    t = shape.type_name
    md = shape.metadata
    where = path or "request"
    if t == "structure":
        if not isinstance(value, dict):
            out.append(f"{where}: must be an object")
            return
        members = dict(shape.members)
        more = extra.get(shape.name, {})
        for k in value:
            if k not in members and k not in more:
                out.append(f"{where}: unknown member {k!r}")
        for k in shape.required_members:
            if k not in value:
                out.append(f"{where}: missing required member {k!r}")
        for k, v in value.items():
            if k in members:
                _walk(members[k], v, f"{path}.{k}" if path else k, out, extra)
            elif k in more:
                _scalar(more[k], v, f"{path}.{k}" if path else k, out)
    elif t == "map":
        if not isinstance(value, dict):
            out.append(f"{where}: must be a map")
            return
        _size(md, len(value), where, out, "entries")
        for k, v in value.items():
            _walk(shape.key, k, f"{where}[{k!r}]", out, extra)
            _walk(shape.value, v, f"{path}.{k}", out, extra)
    elif t == "list":
        if not isinstance(value, list):
            out.append(f"{where}: must be a list")
            return
        _size(md, len(value), where, out, "items")
        for i, v in enumerate(value):
            _walk(shape.member, v, f"{where}[{i}]", out, extra)
    else:
        _scalar(dict(md, type=t), value, where, out)


def _size(md, n, where, out, unit):
    if "min" in md and n < md["min"]:
        out.append(f"{where}: {n} {unit}, at least {md['min']}")
    if "max" in md and n > md["max"]:
        out.append(f"{where}: {n} {unit}, at most {md['max']}")


def _scalar(md, value, where, out):
    t = md.get("type")
    if t == "string":
        if not isinstance(value, str):
            out.append(f"{where}: must be a string")
            return
        _size(md, len(value), where, out, "characters")
        if "enum" in md and value not in md["enum"]:
            out.append(f"{where}: {value!r} is not one of {', '.join(md['enum'])}")
        # Smithy patterns are ECMA-262 and not anchored: a search, not a match.
        if "pattern" in md and not re.search(md["pattern"], value):
            out.append(f"{where}: {value!r} does not match {md['pattern']}")
    elif t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(f"{where}: must be an integer")
            return
        _size(md, value, where, out, "(value)")
    elif t == "boolean":
        if not isinstance(value, bool):
            out.append(f"{where}: must be a boolean")
    elif t == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            out.append(f"{where}: must be a timestamp")


def check(service, op, params, extra=None):
    """The problems with `params` for service/op (empty list: valid)."""
    shape = operation(service, op).input_shape
    out = []
    extra = extra or {}
    if not extra:
        report = botocore.validate.ParamValidator().validate(params, shape)
        if report.has_errors():
            out.extend(line.strip() for line in report.generate_report().splitlines()
                       if line.strip())
    _walk(shape, params, "", out, extra)
    # botocore's report and the walk may say the same thing twice.
    seen, uniq = set(), []
    for p in out:
        if p not in seen:
            seen.add(p)
            uniq.append(p)
    return uniq
