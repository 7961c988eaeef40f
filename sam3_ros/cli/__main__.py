"""`python -m sam3_ros.cli ...` is `sam3ctl ...`."""

from sam3_ros.cli.main import main

main()
