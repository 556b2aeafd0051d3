"""AudioPusher: pushes a model blessed by both the evaluator and the serving check
to <serving_dir>/<model_name>/<version>/ with the next integer version.

TFX's Pusher copies straight into a timestamp-named folder, which TF Serving can
see half-copied; this one stages and renames (serving.model_dirs.push).
"""
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import InfraBlessing, Model, ModelBlessing, PushedModel
from tfx.utils import path_utils


@component
def AudioPusher(model: InputArtifact[Model], model_blessing: InputArtifact[ModelBlessing],
                infra_blessing: InputArtifact[InfraBlessing], pushed_model: OutputArtifact[PushedModel],
                serving_model_base: Parameter[str]):
    import logging
    import os
    from serving.model_dirs import push
    blessed = model_blessing.get_int_custom_property("blessed") == 1
    served = infra_blessing.get_int_custom_property("blessed") == 1
    if not (blessed and served):
        why = (model_blessing.get_string_custom_property("reason") if not blessed
               else infra_blessing.get_string_custom_property("reason"))
        logging.warning("not pushed: %s", why)
        pushed_model.set_int_custom_property("pushed", 0)
        pushed_model.set_string_custom_property("reason", why)
        return
    version = push(path_utils.serving_model_dir(model.uri), serving_model_base)
    destination = os.path.join(serving_model_base, str(version))
    logging.info("pushed version %d to %s", version, destination)
    pushed_model.set_int_custom_property("pushed", 1)
    pushed_model.set_int_custom_property("pushed_version", version)
    pushed_model.set_string_custom_property("pushed_destination", destination)
