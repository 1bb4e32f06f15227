"""The JSON-RPC 2.0 side of the monitor: framing of a byte stream
into requests, and the answer to a request (or batch) from the methods in
methods.py. No sockets here (service.py)."""
import json

from . import methods
from .errors import (INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND,
                     PARSE_ERROR, RpcError)

MAX_BATCH = 100                  # requests in one batch: a batch is answered in one go


def _answer(req):
    """The response object to one request object, or None for a notification."""
    if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or \
            not isinstance(req.get("method"), str):
        return _error(req.get("id") if isinstance(req, dict) else None, INVALID_REQUEST,
                      "not a JSON-RPC 2.0 request (needs \"jsonrpc\": \"2.0\" and a method)")
    rid = req.get("id")
    fn = methods.METHODS.get(req["method"])
    if fn is None:
        return _error(rid, METHOD_NOT_FOUND, f"unknown method {req['method'][:100]!r}; "
                      f"methods: {', '.join(sorted(methods.METHODS))}")
    params = req.get("params", {})
    if not isinstance(params, (dict, list)):
        return _error(rid, INVALID_PARAMS, "params must be an object or an array")
    try:
        result = fn(params)
    except RpcError as e:
        return _error(rid, e.code, e.message)
    except Exception as e:  # a monitor bug must not end the service
        return _error(rid, INTERNAL_ERROR, f"{type(e).__name__}: {e}")
    if "id" not in req:
        return None
    return {"jsonrpc": "2.0", "id": rid, "result": result}


def _error(rid, code, message):
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def handle(text):
    """Answers one JSON text (a request or a batch): the response text, or ''."""
    try:
        req = json.loads(text)
    except (ValueError, RecursionError) as e:   # RecursionError: nesting too deep
        return json.dumps(_error(None, PARSE_ERROR, f"parse error: {str(e)[:200]}"))
    if isinstance(req, list):
        if not req or len(req) > MAX_BATCH:
            return json.dumps(_error(None, INVALID_REQUEST,
                                     f"a batch holds 1..{MAX_BATCH} requests, not {len(req)}"))
        answers = [a for a in (_answer(r) for r in req) if a is not None]
        return json.dumps(answers) if answers else ""
    a = _answer(req)
    return json.dumps(a) if a is not None else ""



_decoder = json.JSONDecoder()

def split_requests(buf):
    """Complete JSON values at the start of `buf` (requests may be sent
    back to back, with or without newlines, as the original's server took
    them): (list of texts, rest of the buffer). A value that cannot be
    parsed ends the stream with itself as a text (answered: parse error)."""
    texts = []
    text = buf.decode("utf-8", errors="replace")
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return texts, b""
        try:
            _, end = _decoder.raw_decode(text, pos)
        except RecursionError:
            # nested too deep to parse: complete or not, it gets a parse error
            texts.append(text[pos:])
            return texts, b""
        except ValueError:
            rest = text[pos:]
            # incomplete (the rest may still arrive) or broken? A newline after a
            # value that does not parse means broken: answer and drop it.
            if "\n" in rest:
                line, _, after = rest.partition("\n")
                texts.append(line)
                text, pos = after, 0
                continue
            return texts, rest.encode()
        texts.append(text[pos:end])
        pos = end

