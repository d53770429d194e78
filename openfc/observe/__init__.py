"""What ran, what failed, what it cost: invocation records, function logs, metrics, usage."""

from openfc.observe.metrics import Metrics
from openfc.observe.records import Recorder
from openfc.observe.usage import Prices, meter_provisioned, report

__all__ = ["Metrics", "Prices", "Recorder", "meter_provisioned", "report"]
