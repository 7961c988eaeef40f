from sam3_ros.annotate.cli import main

main()
