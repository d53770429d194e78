"""Request authentication: FC signatures (and SigV4 for the AWS surfaces) and access keys."""

from openfc.auth.fc import Verifier, authorization, canonical_resource, string_to_sign
from openfc.auth.keys import AccessKey, root_key

__all__ = ["AccessKey", "Verifier", "authorization", "canonical_resource", "root_key", "string_to_sign"]
