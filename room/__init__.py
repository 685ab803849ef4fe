"""The writers' room: a local web page to read a run, answer its reviews, edit any stage and re-run (``dsr room``)."""
