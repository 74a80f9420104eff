"""The basics every other layer stands on: data, the course's networks, losses, optimizers and
schedules by name, the training configuration, the course's loop, checkpoints, atomic files, the two
error types and process set-up. Nothing here imports a runner, the analysis side or the CLI."""
