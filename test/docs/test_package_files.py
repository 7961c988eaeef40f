"""The files every ROS package has: a changelog in the ROS format, a licence, a current package.xml."""

from pathlib import Path

from catkin_pkg.changelog import get_changelog_from_path
from catkin_pkg.package import parse_package

REPO = Path(__file__).resolve().parents[2]


def test_changelog_is_a_ros_changelog_up_to_this_version():
    package = parse_package(REPO / "package.xml")
    changelog = get_changelog_from_path(REPO / "CHANGELOG.rst", package.name)
    versions = [version for version, _date, _content in changelog.foreach_version()]
    newest = max(versions, key=lambda version: tuple(int(part) for part in version.split(".")))

    assert newest == package.version, f"the newest changelog section is {newest}, package.xml says {package.version}"


def test_licence_is_the_one_package_xml_names():
    package = parse_package(REPO / "package.xml")
    licence = (REPO / "LICENSE").read_text()

    assert [str(name) for name in package.licenses] == ["Apache-2.0"]
    assert "Apache License\n                           Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence


def test_package_xml_declares_what_the_launch_file_imports():
    package = parse_package(REPO / "package.xml")
    exec_depends = {dependency.name for dependency in package.exec_depends + package.run_depends}

    assert {"launch", "launch_ros", "ament_index_python"} <= exec_depends
