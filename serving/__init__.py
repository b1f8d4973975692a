"""`tfx-prod serve`: a TF Serving-compatible model server for what the pipeline pushes.

A separate deployable: it imports nothing from `pipeline/`, `components/` or
`modules/`; everything it needs travels inside the pushed version directory
(see `serving/layout.py`). Run it as `tfx-prod serve` or `python -m serving`.

    options.py      flags (TF Serving's names) and every default
    config.py       ModelServerConfig / BatchingParameters / MonitoringConfig
    versions.py     version policy, labels, hot reload, status
    servable.py     one loaded version + its schema, statistics, lineage
    runtimes.py     SavedModel (TF1 Session, like TF Serving) and TFLite
    signatures.py   SignatureDefs, classify/regress qualification
    validation.py   schema rules -> 400 naming feature and rule
    drift.py        L-infinity / Jensen-Shannon vs training statistics
    batching.py     TF Serving's batching parameters and 503 on a full queue
    core.py         what REST and gRPC share: validate, batch, run, observe
    json_codec.py   TF Serving's REST JSON; examples.py tf.Example inputs
    tensor_proto.py numpy <-> TensorProto (typed fields)
    http.py         asyncio + httptools HTTP/1.1; rest.py the REST API
    grpc_service.py PredictionService + ModelService
    metrics.py      Prometheus page with TF Serving's names plus ours
    server.py       wiring; status.py the status-code table
"""
