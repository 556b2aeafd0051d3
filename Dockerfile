# The pipeline image for Kubeflow Pipelines v2 / Vertex AI: every step runs in it.
#   docker build -t REGISTRY/wavegan-pipeline:TAG .
#   wavegan pipeline compile --image REGISTRY/wavegan-pipeline:TAG ...
# TensorFlow finds the GPU that the Trainer step requests through the CUDA wheels.
FROM python:3.10-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /wavegan
COPY setup.py pyproject.toml constraints.txt README.md ./
COPY models ./models
COPY components ./components
COPY pipeline ./pipeline
COPY serving ./serving
RUN pip install --no-cache-dir -c constraints.txt . \
 && pip install --no-cache-dir "tensorflow[and-cuda]==2.16.2"

# KFP v2 runs TFX executors through the command the compiled spec names
# (python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor).
ENV TF_CPP_MIN_LOG_LEVEL=2
