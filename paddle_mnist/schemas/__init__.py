"""One module per file format the tools write: its schema name, its documented fields, its writer
and its reader. Runners write through these modules and the analysis side reads through them."""
