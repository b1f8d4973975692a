"""gRPC: `tensorflow.serving.PredictionService` and `ModelService`, with the
servicer classes and service descriptors shipped in tensorflow-serving-api
(no code generation).

Responses follow TF Serving: typed repeated output fields, the version
actually used in `model_spec`, TF status codes as gRPC codes, messages cut
at 1024 characters, 2 GiB message limits.
"""
import time

import grpc
from tensorflow_serving.apis import (classification_pb2, inference_pb2,
                                     model_management_pb2, model_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc,
                                     regression_pb2)

from serving import examples as examples_lib
from serving import model_info, online, signatures as sig, tensor_proto
from serving.config import ConfigError, parse_model_config_text
from serving.core import check_input_names
from serving.status import (Code, ServingError, from_exception, grpc_code,
                            grpc_message, invalid_argument)

MAX_MESSAGE_BYTES = 2**31 - 1
CHANNEL_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]


def _spec(request_spec):
    version = request_spec.version.value if request_spec.HasField("version") \
        else None
    label = request_spec.version_label or None
    if version is not None and label:
        raise invalid_argument(f"Both model version ({version}) and model "
                               f"version label ({label}) cannot be supplied.")
    return request_spec.name, version, label


def _fill_spec(target, servable, signature_key: str):
    target.name = servable.model_name
    target.version.value = servable.version
    target.signature_name = signature_key


class _Base:
    def __init__(self, core, manager, rollout_key=None):
        self.core, self.manager = core, manager
        # (metadata as a lower-case dict, None) -> sticky rollout key or None
        self.rollout_key = rollout_key

    async def _routed_call(self, context, api: str, request_spec, work):
        """Predict/Classify/Regress: route (rollouts split default
        traffic), run `work(servable)`, retry a canary's model error on
        stable, record the request once."""
        started = attempt = time.perf_counter()
        name, servable, request_id = request_spec.name, None, None
        try:
            metadata = dict(context.invocation_metadata() or ())
            request_id = online.request_id(
                metadata.get(online.REQUEST_ID_HEADER),
                make=self.core.online is not None and api != "Regress")
            if request_id:   # echoed as trailing metadata, errors included
                context.set_trailing_metadata(
                    ((online.REQUEST_ID_HEADER, request_id),))
            key = self.rollout_key(metadata, None) if self.rollout_key \
                else None
            servable, fallback = self.manager.route(*_spec(request_spec),
                                                    key=key)
            try:
                result = await work(servable, request_id)
            except ServingError as e:
                if not (e.model_error and fallback is not None):
                    raise
                self.core.record_attempt(servable, e, attempt)
                attempt, servable = time.perf_counter(), fallback
                result = await work(servable, request_id)
        except Exception as e:  # every failure is a status, never a trace
            error = from_exception(e)
            self.core.record(name, api, "GRPC", error, started, servable,
                             attempt)
            await context.abort(grpc_code(error.code), grpc_message(error.message))
        self.core.record(name, api, "GRPC", None, started, servable, attempt)
        return result

    async def _call(self, context, api: str, request_spec, work):
        started = time.perf_counter()
        name = request_spec.name
        try:
            result = await work()
        except Exception as e:  # every failure is a status, never a trace
            error = from_exception(e)
            self.core.record(name, api, "GRPC", error, started)
            await context.abort(grpc_code(error.code), grpc_message(error.message))
        self.core.record(name, api, "GRPC", None, started)
        return result


class PredictionService(_Base, prediction_service_pb2_grpc.PredictionServiceServicer):

    async def Predict(self, request, context):
        async def work(servable, request_id):
            signature = sig.find_signature(servable.signatures,
                                           request.model_spec.signature_name,
                                           rest=False)
            check_input_names(signature, request.inputs)
            inputs = {alias: tensor_proto.to_numpy(
                          proto, signature.inputs[alias].dtype, alias)
                      for alias, proto in request.inputs.items()}
            key, outputs = await self.core.predict(
                servable, signature.key, inputs, list(request.output_filter),
                rest=False, api="Predict", request_id=request_id)
            response = predict_pb2.PredictResponse()
            _fill_spec(response.model_spec, servable, key)
            for alias, array in outputs.items():
                tensor_proto.from_numpy(array, response.outputs[alias])
            return response
        return await self._routed_call(context, "Predict", request.model_spec,
                                       work)

    async def Classify(self, request, context):
        async def work(servable, request_id):
            dicts, serialized = examples_lib.from_input_proto(request.input)
            key, rows = await self.core.classify(
                servable, request.model_spec.signature_name, dicts, serialized,
                rest=False, request_id=request_id)
            response = classification_pb2.ClassificationResponse()
            _fill_spec(response.model_spec, servable, key)
            for row in rows:
                classifications = response.result.classifications.add()
                for label, score in row:
                    classifications.classes.add(label=label, score=score)
            return response
        return await self._routed_call(context, "Classify", request.model_spec,
                                       work)

    async def Regress(self, request, context):
        async def work(servable, _request_id):
            dicts, serialized = examples_lib.from_input_proto(request.input)
            key, values = await self.core.regress(
                servable, request.model_spec.signature_name, dicts, serialized,
                rest=False)
            response = regression_pb2.RegressionResponse()
            _fill_spec(response.model_spec, servable, key)
            for value in values:
                response.result.regressions.add(value=value)
            return response
        return await self._routed_call(context, "Regress", request.model_spec,
                                       work)

    async def MultiInference(self, request, context):
        async def work():
            if not request.tasks:
                raise invalid_argument("Tasks field is empty.")
            dicts, serialized = examples_lib.from_input_proto(request.input)
            response = inference_pb2.MultiInferenceResponse()
            names = {task.model_spec.name for task in request.tasks}
            if len(names) != 1:
                raise invalid_argument("All ModelSpecs in a MultiInferenceRequest "
                                       "must access the same model name.")
            for task in request.tasks:
                servable = self.manager.resolve(*_spec(task.model_spec))
                result = response.results.add()
                key = task.model_spec.signature_name
                if task.method_name == sig.CLASSIFY_METHOD:
                    key, rows = await self.core.classify(
                        servable, key, dicts, serialized, rest=False)
                    for row in rows:
                        classes = result.classification_result.classifications.add()
                        for label, score in row:
                            classes.classes.add(label=label, score=score)
                elif task.method_name == sig.REGRESS_METHOD:
                    key, values = await self.core.regress(
                        servable, key, dicts, serialized, rest=False)
                    for value in values:
                        result.regression_result.regressions.add(value=value)
                else:
                    raise ServingError(Code.UNIMPLEMENTED,
                                       f"Unsupported signature method_name: "
                                       f"{task.method_name}")
                _fill_spec(result.model_spec, servable, key)
            return response
        spec = request.tasks[0].model_spec if request.tasks else \
            model_pb2.ModelSpec()
        return await self._call(context, "MultiInference", spec, work)

    async def GetModelMetadata(self, request, context):
        async def work():
            servable = self.manager.resolve(*_spec(request.model_spec))
            return model_info.metadata_response(servable,
                                                list(request.metadata_field))
        return await self._call(context, "GetModelMetadata", request.model_spec,
                                work)


class ModelService(_Base, model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, core, manager, on_reload=None):
        super().__init__(core, manager)
        self._on_reload = on_reload

    async def GetModelStatus(self, request, context):
        async def work():
            if not request.HasField("model_spec"):
                raise invalid_argument("Missing ModelSpec")
            name, version, _ = _spec(request.model_spec)
            return model_info.status_response(self.manager, name, version)
        return await self._call(context, "GetModelStatus", request.model_spec,
                                work)

    async def HandleReloadConfigRequest(self, request, context):
        response = model_management_pb2.ReloadConfigResponse()
        try:
            configs = parse_model_config_text(str(request.config),
                                              "ReloadConfigRequest")
            self.manager.reload_config(configs)
        except ConfigError as e:
            response.status.error_code = int(Code.INVALID_ARGUMENT)
            response.status.error_message = str(e)
        return response


class _Undecodable:
    """A request whose bytes do not parse: answered INVALID_ARGUMENT."""

    def __init__(self, message_type: str, error: Exception):
        self.message = (f"Could not parse the request as {message_type}: "
                        f"{error}")


def _deserializer(message_class):
    def parse(data: bytes):
        try:
            return message_class.FromString(data)
        except Exception as e:  # DecodeError, or anything a bad message raises
            return _Undecodable(message_class.DESCRIPTOR.full_name, e)
    return parse


def _guarded(method):
    async def behavior(request, context):
        if isinstance(request, _Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                grpc_message(request.message))
        return await method(request, context)
    return behavior


def _handler(service, servicer) -> grpc.GenericRpcHandler:
    """Like the shipped `add_*Servicer_to_server`, but a request that does not
    parse gets INVALID_ARGUMENT instead of grpcio's UNKNOWN."""
    from google.protobuf import symbol_database
    database = symbol_database.Default()
    handlers = {}
    for method in service.methods:
        request_class = database.GetSymbol(method.input_type.full_name)
        response_class = database.GetSymbol(method.output_type.full_name)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _guarded(getattr(servicer, method.name)),
            request_deserializer=_deserializer(request_class),
            response_serializer=response_class.SerializeToString)
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


async def start(core, manager, host: str, port: int, rollout_key=None):
    from tensorflow_serving.apis import model_service_pb2, prediction_service_pb2
    server = grpc.aio.server(options=CHANNEL_OPTIONS + [("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((
        _handler(prediction_service_pb2.DESCRIPTOR.services_by_name[
            "PredictionService"], PredictionService(core, manager,
                                                    rollout_key)),
        _handler(model_service_pb2.DESCRIPTOR.services_by_name["ModelService"],
                 ModelService(core, manager))))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC to {host}:{port} (in use?)")
    await server.start()
    return server, bound
