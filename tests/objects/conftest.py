"""The object storage tests use the trigger tests' node (``s3_server``) and fixtures."""

from tests.triggers import conftest as triggers

s3, bucket = triggers.s3, triggers.bucket
