"""WaveGAN production pipeline: models/, components/, pipeline/, serving/.

Install with `make install` (pinned versions from constraints.txt).
"""
from setuptools import find_packages, setup

setup(
    name="wavegan-pipeline",
    version="0.1.0",
    description="WaveGAN raw-audio GAN: Beam ingest, TFX training pipeline, TF Serving synthesis",
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["models", "models.*", "components", "components.*",
                                    "pipeline", "pipeline.*", "serving", "serving.*"]),
    install_requires=[
        "tfx[kfp]==1.16.0",
        "tensorflow==2.16.2",
        "apache-beam[gcp]==2.60.0",
        "kfp==2.5.0",
        "tensorflow-serving-api==2.16.1",
        "librosa==0.11.0",
        "soundfile",
        "soxr",
        "numpy<2",
        "protobuf<5",
        "grpcio-health-checking",
        "tqdm",
        "matplotlib",
        "aiohttp",             # the embedded server's REST door
        "orjson",              # fast JSON for 16,384-sample clips
        "prometheus-client",   # /monitoring/prometheus/metrics
        "croniter",            # cron expressions for local and Kubeflow schedules
    ],
    package_data={"serving": ["studio/*.html", "studio/*.js", "studio/*.css", "deploy/*.config",
                              "deploy/*.yaml", "deploy/kubernetes/*.yaml"]},
    extras_require={"test": ["pytest", "pytest-timeout", "pytest-xdist", "playwright"]},
    entry_points={"console_scripts": ["wavegan=pipeline.cli:main"]},
)
