"""The analysis side: figures and tables drawn from files the runners wrote. Nothing here trains.

``style`` holds what every figure shares (notebook-friendly figures, colours, atomic saving); each
other module turns one kind of result file into its figures.
"""
