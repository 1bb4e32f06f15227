"""The QMP client of the guest tests is the package's own (the test bed
instrument uses it too): nvme.instruments.qmp."""
from nvme.instruments.qmp import Qmp, QmpError  # noqa: F401
