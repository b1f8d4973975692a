"""tfx-prod: a production TFX 1.16 pipeline (install with `make install`, from requirements.lock)."""
from setuptools import find_packages, setup

setup(
    name="tfx-prod",
    version="0.1.0",
    description="Production TFX pipeline: validate, train, evaluate, quantize and push a TF Serving model.",
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["tfx_prod*", "pipeline*", "components*", "modules*", "serving*", "orchestration*"]),
    package_data={"": ["*.pbtxt", "*.json"]},
    # The real pins live in requirements.lock; these are the direct needs only.
    install_requires=[
        "tfx[kfp]==1.16.0",
        "tensorflow==2.16.2",
        "tensorflow-model-optimization==0.8.1",
        "tf-keras==2.16.0",
        "apache-beam[gcp]==2.59.0",
        "dill==0.3.1.1",
    ],
    entry_points={"console_scripts": ["tfx-prod=tfx_prod.cli:main"]},
)
