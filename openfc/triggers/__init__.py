"""Triggers: timer, object storage (OSS), HTTP, and message queues (RabbitMQ, NATS JetStream, Redis)."""

from openfc.triggers.hub import TriggerHub
from openfc.triggers.registry import Triggers, trigger_key

__all__ = ["TriggerHub", "Triggers", "trigger_key"]
