"""The runners: each trains or measures and writes result files (JSON, weights). A runner never
draws and never imports ``paddle_mnist.analysis`` or ``paddle_mnist.cli``; the public functions in
``paddle_mnist.api`` run a runner, then draw from the files it wrote."""
