"""Development tools: what `make run`, the tests and the benchmark need besides the site
itself (the local AWS emulator). Not an installed app: the site never imports it."""
