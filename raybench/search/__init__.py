"""The Ray-free search core: search spaces, samplers, pruners and their decisions."""
