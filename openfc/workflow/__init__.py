"""Serverless workflows: Amazon States Language definitions run by an event-sourced engine."""

from openfc.workflow.asl import InvalidDefinition, parse_definition
from openfc.workflow.engine import Engine, TaskRunner, node_id
from openfc.workflow.service import Workflows

__all__ = ["Engine", "InvalidDefinition", "TaskRunner", "Workflows", "node_id", "parse_definition"]
