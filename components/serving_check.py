"""ServingCheck: the pre-push check. Serves the candidate exactly as production
will: the embedded TF Serving-API server loads it from a version folder (SavedModel,
then its warm-up requests) on 127.0.0.1, and real gRPC requests go to both
signatures through the official tensorflow_serving stubs. A model that fails is not
blessed for infra, and the Pusher will not push it.

It needs neither Docker nor KFP v1 (TFX's InfraValidator needs one of them), so it
runs the same locally and on Kubeflow Pipelines v2.
"""
import os
import shutil
import tempfile

import numpy as np

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import InfraBlessing, Model

from tfx.utils import path_utils

from models.errors import first_line
from models.export import SAMPLE_SIGNATURE, SERVING_SIGNATURE

CHECK_MODEL_NAME = "candidate"


def _requests(cfg, batch_size):
    z = np.random.RandomState(0).uniform(-1, 1, [batch_size, cfg.latent_dim]).astype(np.float32)
    serve = {"z": z}
    sample = {"count": np.int32(batch_size), "seed": np.int64(1)}
    if cfg.conditional:
        serve["label"] = np.arange(batch_size, dtype=np.int32) % cfg.num_classes
        sample["label"] = np.int32(0)
    return [(SERVING_SIGNATURE, serve), (SAMPLE_SIGNATURE, sample)]


def check_model(model_dir: str, batch_size: int = 4) -> str:
    """'' if the model serves correctly over gRPC, else what is wrong (one line)."""
    import grpc
    from models.export import load_exported
    from serving.client import SynthesisClient
    from serving.config import model_config
    from serving.model_dirs import push
    from serving.server import EmbeddedServer, ServerOptions
    try:
        _, cfg = load_exported(model_dir)
    except Exception as error:  # noqa: BLE001
        return f"not a loadable WaveGAN model: {error}"
    workdir = tempfile.mkdtemp(prefix="serving-check-")
    server = None
    try:
        base = os.path.join(workdir, CHECK_MODEL_NAME)
        push(model_dir, base)  # version 1, the layout TF Serving polls
        server = EmbeddedServer(model_config(CHECK_MODEL_NAME, base),
                                ServerOptions(host="127.0.0.1", port=0, max_batch_size=max(batch_size, 1)))
        server.start()
        client = SynthesisClient(f"127.0.0.1:{server.port}", model=CHECK_MODEL_NAME, timeout_s=120)
        try:
            states = client.status()
            if not states or states[-1].status.error_message:
                return f"failed to load: {states[-1].status.error_message if states else 'no version'}"
            if {SERVING_SIGNATURE, SAMPLE_SIGNATURE} - set(client.signatures()):
                return f"missing signatures (has {sorted(client.signatures())})"
            for signature, inputs in _requests(cfg, batch_size):
                audio = client.predict(signature, inputs)[0]["audio"]
                expected = (batch_size, cfg.slice_len, cfg.num_channels)
                if audio.shape != expected or audio.dtype != np.float32:
                    return f"{signature} returned {audio.dtype} {audio.shape}, expected float32 {expected}"
                if not np.all(np.isfinite(audio)) or np.max(np.abs(audio)) > 1.0:
                    return f"{signature} returned non-finite or out-of-range audio"
        except grpc.RpcError as error:
            return f"{error.code().name}: {error.details()}"
        finally:
            client.close()
    except Exception as error:  # noqa: BLE001 - any failure to serve is the finding
        return f"{type(error).__name__}: {first_line(error)}"
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return ""


@component
def ServingCheck(model: InputArtifact[Model], blessing: OutputArtifact[InfraBlessing],
                 batch_size: Parameter[int] = 4):
    import tensorflow as tf
    problem = check_model(path_utils.serving_model_dir(model.uri), batch_size)
    blessing.set_int_custom_property("blessed", int(not problem))
    blessing.set_string_custom_property("reason", problem or "served every signature")
    with tf.io.gfile.GFile(os.path.join(blessing.uri, "INFRA_NOT_BLESSED" if problem else "INFRA_BLESSED"),
                           "w") as f:
        f.write(problem)
