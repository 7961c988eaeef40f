"""An installed executable of this package as a child process: `ros2 run` without ros2cli.

The demo, the soak benchmark and the node tests start the node (and the footage player) this
way, exactly as documented: the installed executable with `--ros-args`, stopped with SIGINT as
Ctrl-C or `ros2 launch` would, and killed only if that hangs. Children get the package's Fast DDS
profile for camera-sized images (`use_large_image_transport`) unless the caller chose one.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from ament_index_python.packages import get_package_prefix, get_package_share_directory

PACKAGE = "sam3_ros"
NODE_EXECUTABLE = "sam3_ros"
STOP_TIMEOUT_S = 30.0
# Fast DDS 3 (Kilted on) reads its XML profile from the first; Fast DDS 2 (Humble, Jazzy) only from
# the second, its older name, which Fast DDS 3 still reads but warns about on every process's stderr.
FASTDDS_PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
FASTDDS_2_DISTROS = ("humble", "jazzy")
LARGE_IMAGES_PROFILE = "fastdds_large_images.xml"


def executable_path(name: str) -> Path:
    """Where `ros2 run sam3_ros NAME` finds NAME, in a colcon install or a ROS distro."""
    return Path(get_package_prefix(PACKAGE)) / "lib" / PACKAGE / name


def use_large_image_transport(environment=os.environ) -> None:
    """Point Fast DDS at the package's profile (64 MB shared-memory segment) unless a profile is set.

    Fast DDS's default 512 KB segment sends larger samples over UDP in fragments, and a camera's
    best-effort QoS then loses most frames above about 0.5 MB. Every process of the graph needs
    it: call it on os.environ before rclpy.init, and children of NodeProcess get it too.
    """
    if not any(environment.get(name) for name in FASTDDS_PROFILE_VARIABLES):
        profile = Path(get_package_share_directory(PACKAGE)) / "config" / LARGE_IMAGES_PROFILE
        for name in fastdds_profile_variables(environment.get("ROS_DISTRO", "")):
            environment[name] = str(profile)


def fastdds_profile_variables(ros_distro: str) -> tuple[str, ...]:
    """The variables through which this distro's Fast DDS reads an XML profile, without a warning."""
    return FASTDDS_PROFILE_VARIABLES if ros_distro in FASTDDS_2_DISTROS else FASTDDS_PROFILE_VARIABLES[:1]


def ros_argument(value) -> str:
    """A parameter value as `-p name:=value` takes it (YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(ros_argument(v) for v in value) + "]"
    return str(value)


def ros_arguments(params_file: Path | None = None, parameters: dict | None = None, remappings: dict | None = None) -> list[str]:
    arguments = ["--ros-args"]
    if params_file is not None:
        arguments += ["--params-file", str(params_file)]
    for name, value in (parameters or {}).items():
        arguments += ["-p", f"{name}:={ros_argument(value)}"]
    for name, target in (remappings or {}).items():
        arguments += ["-r", f"{name}:={target}"]
    return arguments


class NodeProcess:
    """One executable of this package running as a child, its stdout and stderr in `log_path`."""

    def __init__(
        self,
        log_path: Path,
        executable: str = NODE_EXECUTABLE,
        params_file: Path | None = None,
        parameters: dict | None = None,
        remappings: dict | None = None,
        domain_id: int | None = None,
        env: dict | None = None,
    ):
        path = executable_path(executable)
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing: build the package first (bash scripts/setup.sh, or colcon build)")
        self.command = [str(path), *ros_arguments(params_file, parameters, remappings)]
        self.log_path = log_path
        self.name = executable
        self.exit_expected = False  # shut down through its lifecycle: an exit is no crash
        self.killed = False  # killed on purpose (SIGKILL), as a power cut or the OOM killer would
        full_env = dict(os.environ if env is None else env)
        # Unbuffered, uncoloured output, so the log is complete and greppable when read mid-run.
        full_env.update(PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="0", RCUTILS_COLORIZED_OUTPUT="0")
        use_large_image_transport(full_env)
        if domain_id is not None:
            full_env["ROS_DOMAIN_ID"] = str(domain_id)
        self._log_file = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            self.command, env=full_env, stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def describe(self) -> str:
        state = "running" if self.alive() else f"exited with code {self.process.returncode}"
        return f"{self.name} ({state}), log {self.log_path}:\n{self.log_tail()}"

    def kill(self) -> None:
        """SIGKILL: no clean-up in the process, as after a power cut or the kernel's OOM killer."""
        self.killed = True
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT_S)
        self._log_file.close()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGINT, then SIGKILL if it has not exited within `timeout`; the exit code, None if it had to be killed."""
        code = None
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                code = self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        else:
            code = self.process.returncode
        self._log_file.close()
        return code
