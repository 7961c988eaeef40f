from sam3_ros.demo.run import main

main()
