import re

from setuptools import find_packages, setup

# one source for the version: paddle_mnist/core/version.py (read as text: importing the package needs Paddle)
VERSION = re.search(r'^__version__ = "([^"]+)"', open("paddle_mnist/core/version.py", encoding="utf-8").read(),
                    re.M).group(1)

setup(
    name="paddle_mnist",
    version=VERSION,
    description="The PaddlePaddle course's MNIST chapter on Paddle 2.6 and 3.x: train, compare optimizers "
                "and learning rates, plot, tune, and look at paths and curvature.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["paddle_mnist", "paddle_mnist.*"]),
    python_requires=">=3.9",
    # Paddle is not here on purpose: users of the GPU wheel (paddlepaddle-gpu) must not get the CPU
    # wheel installed on top of it. Pick one: the `cpu` extra, or a GPU wheel (README.md: 安装, README_en.md: Install).
    # scipy: Lanczos for the Hessian's eigenvalues; safetensors: weights that cannot run code.
    install_requires=["numpy", "pillow", "matplotlib", "tqdm", "scipy", "safetensors"],
    extras_require={
        "cpu": ["paddlepaddle>=2.6"],
        # the tests also run the notebook (nbclient) and the optional trackers, offline
        "test": ["pytest", "nbclient", "nbformat", "ipykernel", "visualdl", "wandb", "ray>=2.9", "noto-cjk-sans-otc",
                 "import-linter"],  # lint-imports: the layers of .importlinter (tests/test_layers.py)
        # figures in Chinese (--lang zh): Noto Sans CJK (SIL OFL, 15 MB); without it a system CJK font is used
        "zh": ["noto-cjk-sans-otc"],
        "ray": ["ray>=2.9"],
        "visualdl": ["visualdl"],
        "wandb": ["wandb"],
        # the documentation site: mkdocs build --strict (Chinese and English pages, docs/zh and docs/en)
        "docs": ["mkdocs>=1.5", "mkdocs-material>=9", "mkdocs-static-i18n>=1.2"],
    },
    entry_points={"console_scripts": ["paddle-mnist=paddle_mnist.cli:main"]},
)
