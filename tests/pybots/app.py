"""Real Flask bots for tests/it/python_bots.rs.

Each route answers the way a student's Flask bot (or the library under it)
really does, so the tests check NeCSuS against Python's own behaviour rather
than against our idea of it. Run it with serve.py.
"""

import base64
import gzip
import json
import random
import zlib

import brotli
import requests
from flask import Flask, Response, jsonify, redirect, request

app = Flask(__name__)


def raw_json(body: bytes, **headers) -> Response:
    """A response with exactly these bytes, labelled JSON without a charset."""
    response = Response(body, status=200, headers=headers)
    response.headers["Content-Type"] = "application/json"
    return response


@app.post("/nan")
def nan():
    """Flask's jsonify writes NaN, Infinity and -Infinity (json.dumps'
    allow_nan) and every digit of a big integer. The first call starts a
    conversation with such a state; the next one reports the state it got
    back and ends the conversation."""
    payload = request.get_json(force=True)
    if "state" in payload:
        return {"text": "got " + json.dumps(payload["state"], sort_keys=True)}
    return jsonify(
        text="numbers Python can write",
        state={
            "n": 123456789012345678901234567890,
            "x": float("nan"),
            "inf": float("inf"),
            "ninf": float("-inf"),
            "f": 1.5,
            "s": "é",
        },
    )


# Redirects with a relative Location, as Flask's redirect() writes them.
@app.post("/moved-<int:code>")
def moved(code):
    return redirect("/target", code=code)


@app.post("/moved-to-missing")
def moved_to_missing():
    return redirect("/nowhere")  # 302 to a route that does not exist: 404


def echo_request():
    """The method and the exact body that arrived (GET is accepted too, so a
    client that turned the POST into a GET shows it instead of a 405)."""
    return {"text": f"{request.method} {request.get_data(as_text=True)}"}


@app.route("/target", methods=["GET", "POST"])
def target():
    return echo_request()


# Called as /slash, Werkzeug's strict slashes redirect it to /slash/ (308).
@app.route("/slash/", methods=["GET", "POST"])
def slash():
    return echo_request()


@app.post("/compressed")
def compressed():
    """{"text": "compressed <enc>"} with Content-Encoding enc."""
    enc = request.args["enc"]
    body = json.dumps({"text": f"compressed {enc}"}).encode()
    squeeze = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,  # HTTP's "deflate" is the zlib format
        "br": brotli.compress,
    }[enc]
    return raw_json(squeeze(body), **{"Content-Encoding": enc})


@app.post("/encoded")
def encoded():
    """The same reply in another Unicode encoding (utf-8-sig, utf-16 and
    utf-32 start with a BOM; the -le/-be ones do not), with no charset."""
    text = json.dumps({"text": "héllo ☃ 😀"}, ensure_ascii=False)
    return raw_json(text.encode(request.args["as"]))


@app.post("/surrogate")
def surrogate():
    """Half a surrogate pair as a JSON escape: json.loads accepts it."""
    return raw_json(rb'{"text": "half \ud83d of a pair"}')


@app.post("/empty")
def empty():
    """A view that returns "": status 200, no body."""
    return ""


# About 1.3 MB of base64, the size of a chart a bot embeds as a data URI.
CHART_BYTES = random.Random(2024).randbytes(975_000)
CHART = '<img src="data:image/png;base64,' + base64.b64encode(CHART_BYTES).decode() + '">'


@app.post("/chart")
def chart():
    return {"text": CHART}


@app.post("/ok")
def ok():
    return {"text": "ok " + request.json["text"]}


@app.post("/helper-note")
def helper_note():
    """A conversation bot with a helper that posts a note into its own room
    with requests.post (no timeout) while it answers, as past students'
    bots did. The chat server's address is the `chat` query parameter;
    `as=same` posts the note as the person being answered, otherwise as
    "helper"."""
    d = request.json
    n = (d.get("state") or 0) + 1
    author = d["author"] if request.args.get("as") == "same" else "helper"
    requests.post(
        request.args["chat"] + "/api/actions/message",
        json={"room": d["room"], "author": author, "text": f"note {n}"},
    )
    return {"text": f"turn {n}", "state": n}
