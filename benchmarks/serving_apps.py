"""The servers the serving benchmark compares against, one per process.

    python -m benchmarks.serving_apps KIND PORT [VERSION_DIR]

KIND:
  flask-keras      the guide's microservice: Flask, `keras.models.load_model`,
                   `model.predict` per request (transformed-feature bodies)
  flask-signature  a competent naive server: Flask calling the SavedModel's
                   `serving_default` signature directly (raw-feature bodies)
  flask-constant   Flask answering a constant: its own ceiling
  ours-constant    tfx-prod serve's HTTP stack (serving/http.py on uvloop)
                   answering a constant: our ceiling
"""
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONSTANT = b'{"predictions": [[0.5]]}'


def _flask_app():
    import logging
    from flask import Flask
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return Flask(__name__)


def flask_keras(port, version_dir):
    import numpy as np
    import tensorflow as tf
    from flask import jsonify, request
    app = _flask_app()
    model = tf.keras.models.load_model(version_dir)

    @app.route("/v1/models/taxi:predict", methods=["POST"])
    def predict():
        rows = request.get_json(force=True)["instances"]
        inputs = {name: np.array([row[name] for row in rows], np.float32)
                  for name in rows[0]}
        probabilities = model.predict(inputs, verbose=0)
        return jsonify({"predictions": probabilities.tolist()})
    app.run(host="127.0.0.1", port=port, threaded=True)


def flask_signature(port, version_dir):
    import tensorflow as tf
    from flask import jsonify, request
    app = _flask_app()
    loaded = tf.saved_model.load(version_dir)
    signature = loaded.signatures["serving_default"]
    specs = signature.structured_input_signature[1]

    @app.route("/v1/models/taxi:predict", methods=["POST"])
    def predict():
        rows = request.get_json(force=True)["instances"]
        inputs = {name: tf.constant([row[name] for row in rows], spec.dtype)
                  for name, spec in specs.items()}
        outputs = signature(**inputs)
        return jsonify({"predictions": outputs["probabilities"].numpy().tolist()})
    app.run(host="127.0.0.1", port=port, threaded=True)


def flask_constant(port, _=None):
    from flask import Response
    app = _flask_app()

    @app.route("/v1/models/taxi:predict", methods=["POST"])
    def predict():
        return Response(CONSTANT, mimetype="application/json")
    app.run(host="127.0.0.1", port=port, threaded=True)


def ours_constant(port, _=None):
    import asyncio
    import uvloop
    from serving import http, json_codec

    def handle(request):
        return http.Response(200, CONSTANT)

    async def main():
        await http.serve(handle, json_codec.error_body, "127.0.0.1", port,
                         64 << 20)
        print("ready", flush=True)
        await asyncio.Event().wait()
    uvloop.install()
    asyncio.run(main())


APPS = {"flask-keras": flask_keras, "flask-signature": flask_signature,
        "flask-constant": flask_constant, "ours-constant": ours_constant}

if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    APPS[kind](port, sys.argv[3] if len(sys.argv) > 3 else None)
