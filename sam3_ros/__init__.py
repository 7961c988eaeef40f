"""sam3_ros: open-vocabulary, tracked instance segmentation with SAM 3 for ROS 2."""

# The generated sam3_ros.msg / sam3_ros.srv live in the colcon install, next to a copy of this
# package. Merging every sam3_ros folder on sys.path lets the source tree (e.g. the current
# directory, first on sys.path) and the install work as one package.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)
