"""ServingCheck: the pre-push check. Loads the candidate as TF Serving does (the
SavedModel, then its warm-up requests) and sends real requests to both signatures;
a model that fails is not blessed for infra and the Pusher will not push it.

Runs in-process with TensorFlow, so it needs neither Docker nor KFP v1 (TFX's
InfraValidator needs one of them).
"""

import os

import numpy as np

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import InfraBlessing, Model


def check_model(model_dir: str, batch_size: int = 4) -> str:
    """'' if the model serves correctly, else what is wrong (one line)."""
    import tensorflow as tf
    from models.export import SAMPLE_SIGNATURE, SERVING_SIGNATURE, WARMUP_FILE, load_exported
    try:
        model, cfg = load_exported(model_dir)
        missing = {SERVING_SIGNATURE, SAMPLE_SIGNATURE} - set(model.signatures)
        if missing:
            return f"missing signatures: {sorted(missing)}"
        warmup = os.path.join(model_dir, "assets.extra", WARMUP_FILE)
        requests = []
        if tf.io.gfile.exists(warmup):
            from tensorflow_serving.apis import prediction_log_pb2
            for record in tf.data.TFRecordDataset(warmup):
                log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
                requests.append((log.predict_log.request.model_spec.signature_name,
                                 {k: tf.make_ndarray(v) for k, v in log.predict_log.request.inputs.items()}))
        z = np.random.RandomState(0).uniform(-1, 1, [batch_size, cfg.latent_dim]).astype(np.float32)
        serve_inputs = {"z": z}
        sample_inputs = {"count": np.int32(batch_size), "seed": np.int64(1)}
        if cfg.conditional:
            serve_inputs["label"] = np.arange(batch_size, dtype=np.int32) % cfg.num_classes
            sample_inputs["label"] = np.int32(0)
        requests += [(SERVING_SIGNATURE, serve_inputs), (SAMPLE_SIGNATURE, sample_inputs)]
        for signature, inputs in requests:
            audio = model.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})["audio"].numpy()
            expected = (len(inputs["z"]) if "z" in inputs else int(inputs["count"]), cfg.slice_len, cfg.num_channels)
            if audio.shape != expected or audio.dtype != np.float32:
                return f"{signature} returned {audio.dtype} {audio.shape}, expected float32 {expected}"
            if not np.all(np.isfinite(audio)) or np.max(np.abs(audio)) > 1.0:
                return f"{signature} returned non-finite or out-of-range audio"
    except Exception as error:  # noqa: BLE001 - any failure to serve is the finding
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return ""


@component
def ServingCheck(model: InputArtifact[Model], blessing: OutputArtifact[InfraBlessing],
                 batch_size: Parameter[int] = 4):
    import tensorflow as tf
    problem = check_model(os.path.join(model.uri, "Format-Serving"), batch_size)
    blessing.set_int_custom_property("blessed", int(not problem))
    blessing.set_string_custom_property("reason", problem or "served every signature")
    with tf.io.gfile.GFile(os.path.join(blessing.uri, "INFRA_NOT_BLESSED" if problem else "INFRA_BLESSED"),
                           "w") as f:
        f.write(problem)
