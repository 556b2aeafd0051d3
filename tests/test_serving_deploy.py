"""The shipped TF Serving configuration and manifests parse and say what they should."""
import os

import yaml

from serving.config import read_batching_parameters, read_model_config

DEPLOY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "serving", "deploy")


def test_model_and_batching_configs_parse_with_tf_servings_protos():
    cfg = read_model_config(os.path.join(DEPLOY, "models.config"))
    model = cfg.model_config_list.config[0]
    assert model.name == "wavegan" and model.model_version_policy.latest.num_versions == 2
    batching = read_batching_parameters(os.path.join(DEPLOY, "batching.config"))
    assert batching.max_batch_size == 64 and batching.batch_timeout_micros == 2000
    configmap = yaml.safe_load(open(os.path.join(DEPLOY, "kubernetes", "configmap.yaml")))
    assert "model_config_list" in configmap["data"]["models.config"]


def test_kubernetes_manifests_have_probes_service_and_autoscaling():
    docs = {}
    for name in os.listdir(os.path.join(DEPLOY, "kubernetes")):
        doc = yaml.safe_load(open(os.path.join(DEPLOY, "kubernetes", name)))
        docs[doc["kind"]] = doc
    assert set(docs) == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler"}
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"] and container["livenessProbe"]
    assert any(a.startswith("--batching_parameters_file") for a in container["args"])
    assert {p["port"] for p in docs["Service"]["spec"]["ports"]} == {8500, 8501}
    assert docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == "wavegan-serving"
    compose = yaml.safe_load(open(os.path.join(DEPLOY, "docker-compose.yaml")))
    ports = compose["services"]["tf-serving"]["ports"]
    assert all(p.startswith("127.0.0.1:") for p in ports)  # loopback unless widened on purpose
