"""A small client for the synthesis service (either server), on the official stubs."""
from __future__ import annotations

from typing import Optional, Union

import grpc
import numpy as np
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc)

from models.export import SAMPLE_BY_NAME_SIGNATURE, SAMPLE_SIGNATURE, SERVING_SIGNATURE


def make_tensor_proto(value: np.ndarray):
    import tensorflow as tf
    return tf.make_tensor_proto(value)


class SynthesisClient:
    def __init__(self, address: str, model: str = "wavegan", token: str = "", root_cert: str = "",
                 client_cert: str = "", client_key: str = "", timeout_s: float = 30.0,
                 max_response_bytes: int = 256 << 20):
        options = [("grpc.max_receive_message_length", max_response_bytes)]
        if root_cert:
            read = lambda path: open(path, "rb").read() if path else None  # noqa: E731
            credentials = grpc.ssl_channel_credentials(read(root_cert), read(client_key), read(client_cert))
            self.channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(address, options=options)
        self.model, self.timeout_s = model, timeout_s
        self.metadata = [("authorization", f"Bearer {token}")] if token else None
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def _spec(self, spec, version: Optional[int], version_label: str, signature: str = ""):
        spec.name = self.model
        if version is not None:
            spec.version.value = version
        if version_label:
            spec.version_label = version_label
        if signature:
            spec.signature_name = signature

    def predict(self, signature: str, inputs: dict, version: Optional[int] = None, version_label: str = ""):
        """Raw call: {name: array} -> ({name: array}, version that answered)."""
        import tensorflow as tf
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, version, version_label, signature)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(make_tensor_proto(value))
        response = self.predictions.Predict(request, timeout=self.timeout_s, metadata=self.metadata)
        outputs = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
        return outputs, response.model_spec.version.value

    def synthesize(self, z: np.ndarray, labels=None, **kwargs) -> np.ndarray:
        """audio [n, slice_len, ch] for latent vectors z [n, latent_dim]."""
        inputs = {"z": np.asarray(z, np.float32)}
        if labels is not None:
            inputs["label"] = np.asarray(labels, np.int32)
        return self.predict(SERVING_SIGNATURE, inputs, **kwargs)[0]["audio"]

    def draw(self, count: int, seed: int, label: Union[int, str, None] = None, **kwargs) -> dict:
        """Every output of the sample signature: audio [count, slice_len, ch], z and the model's facts
        (sample_rate, num_classes, label_names) where the model exports them. A label given as text
        (a class name) goes to sample_by_name, which the model resolves itself."""
        inputs = {"count": np.int32(count), "seed": np.int64(seed)}
        signature = SAMPLE_SIGNATURE
        if isinstance(label, str):
            inputs["label_name"], signature = np.array(label.encode("utf-8")), SAMPLE_BY_NAME_SIGNATURE
        elif label is not None:
            inputs["label"] = np.int32(label)
        return self.predict(signature, inputs, **kwargs)[0]

    def sample(self, count: int, seed: int, label: Union[int, str, None] = None, **kwargs) -> np.ndarray:
        """audio [count, slice_len, ch] drawn by the server from a seed."""
        return self.draw(count, seed, label, **kwargs)["audio"]

    def signatures(self, version: Optional[int] = None):
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, version, "")
        response = self.predictions.GetModelMetadata(request, timeout=self.timeout_s, metadata=self.metadata)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return signature_map.signature_def

    def status(self, version: Optional[int] = None):
        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, version, "")
        return self.models.GetModelStatus(request, timeout=self.timeout_s, metadata=self.metadata).model_version_status

    def close(self):
        self.channel.close()
