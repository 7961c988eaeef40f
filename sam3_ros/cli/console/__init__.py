"""`sam3ctl console`: the operator console in a browser (command.py is the sub-command; docs/console.md)."""
