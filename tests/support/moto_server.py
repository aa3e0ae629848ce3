"""moto_server, made as strict as AWS where the tests depend on it, with a request log.

moto 5.2 differs from AWS in three ways that would let tests pass which prove nothing; this
launcher closes them and otherwise leaves moto as it is:

1. One request at a time. moto_server serves each request on its own thread, with no lock
   around its backends, so two DynamoDB conditional writes (UpdateItem/PutItem/DeleteItem,
   TransactWriteItems) with the same ConditionExpression racing each other can both succeed,
   which DynamoDB never allows: it makes each item's conditional write atomic. Seen here: two
   standbys both took over a lease within 50 ms. Every backend call is serialized here, so a
   test of leases or fencing fails on moto when it would fail on AWS.
2. Idempotent CreateVpcEndpoint. EC2 answers a repeated `ClientToken` with the endpoint first
   created with it (in whatever state it is now, even deleted), and answers
   `IdempotentParameterMismatch` (HTTP 400) when the token comes back with different
   parameters. moto stores the token and ignores it: a retried create makes a second endpoint,
   so a test of idempotent creates would pass whatever the daemon did.
3. ModifyVpcEndpoint honours `PrivateDnsEnabled`. moto reads every other parameter
   (moto/ec2/responses/vpcs.py); EC2 honours it, and privatelinkd's last step is to turn
   private DNS on. So the flow can be proven on moto up to Active with private DNS, and
   private-DNS drift can be tested.

With PRIVATELINKD_REQUEST_LOG=FILE, every request is logged to FILE as one line
`MONOTONIC_NS SERVICE ACTION USER_AGENT` (moto logs no User-Agent; the leader-election tests
tell daemons apart by theirs). Lines are written while the request holds the backends, so
their order is the order the requests were served in.

Usage (as `moto_server`): python3 tests/support/moto_server.py -H 127.0.0.1 -p PORT
tests/support/check_strict_moto.py proves 1 and 2 against this launcher.
"""

import os
import threading
import time

from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import convert_to_flask_response
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses.vpcs import VPCs
from moto.server import main

# 1. One request at a time.
#
# Every backend handler moto_server serves (each service's `url_paths`, and the /moto-api
# reset and state endpoints) is wrapped by `convert_to_flask_response` in
# moto/moto_server/werkzeug_app.py:create_backend_app, and its `__call__` is where the handler
# runs: it parses the request, runs the action against the backend and returns the finished
# response. Holding one lock there covers every service, including those that do not go
# through `BaseResponse.call_action` (S3's handlers, moto-api), and leaves out what needs no
# lock: Werkzeug's HTTP parsing, routing to the per-service app (which has its own lock) and
# the writing of the response. The lock is not re-entrant on purpose: no handler of the
# services used here (EC2, DynamoDB) calls moto_server over HTTP; one that did (a Lambda
# container calling back) would deadlock here rather than silently race.
_backend_lock = threading.Lock()
_flask_call = convert_to_flask_response.__call__


def serialized_call(self, *args, **kwargs):
    with _backend_lock:
        return _flask_call(self, *args, **kwargs)


convert_to_flask_response.__call__ = serialized_call


# 2. Idempotent CreateVpcEndpoint.
#
# The hook is the response handler `VPCs.create_vpc_endpoint` (moto/ec2/responses/vpcs.py),
# not the model's `create_vpc_endpoint`: the handler sees the request's parameters as sent
# (the model gets them with moto's defaults applied) and returns the `ActionResult` that moto
# serializes, so a repeated token's answer is built exactly as a fresh create's is, from the
# original endpoint object as moto holds it now (state, tags, subnets after any modify).
# Tokens live on the EC2 backend, which is per account and region (as EC2's tokens are), and
# go away with it when /moto-api/reset clears the backends. The check-then-create needs no
# lock of its own: it runs under _backend_lock.
_create_vpc_endpoint = VPCs.create_vpc_endpoint


class IdempotentParameterMismatch(EC2ClientError):
    def __init__(self, token):
        super().__init__(
            "IdempotentParameterMismatch",
            f"The client token '{token}' has already been used with different parameters.",
        )


def _create_parameters(self):
    """The parameters EC2 compares for a repeated token, with EC2's defaults filled in; lists
    as sets (their order means nothing to EC2)."""
    return (
        self._get_param("VpcId"),
        self._get_param("ServiceName"),
        self._get_param("VpcEndpointType") or "Gateway",
        frozenset(self._get_param("SubnetIds", []) or []),
        frozenset(self._get_param("SecurityGroupIds", []) or []),
        self._get_bool_param("PrivateDnsEnabled", if_none=True),
    )


def create_vpc_endpoint(self):
    token = self._get_param("ClientToken")
    if not token:
        return _create_vpc_endpoint(self)
    backend = self.ec2_backend
    tokens = backend.__dict__.setdefault("_privatelinkd_vpc_endpoint_tokens", {})
    parameters = _create_parameters(self)
    seen = tokens.get(token)
    if seen is not None:
        endpoint, first_parameters = seen
        if parameters != first_parameters:
            raise IdempotentParameterMismatch(token)
        return ActionResult({"VpcEndpoint": endpoint})
    result = _create_vpc_endpoint(self)  # raises, and records nothing, if the create fails
    tokens[token] = (result.result["VpcEndpoint"], parameters)
    return result


VPCs.create_vpc_endpoint = create_vpc_endpoint


# 3. ModifyVpcEndpoint honours PrivateDnsEnabled.
_modify_vpc_endpoint = VPCs.modify_vpc_endpoint


def modify_vpc_endpoint(self):
    result = _modify_vpc_endpoint(self)
    enabled = self._get_bool_param("PrivateDnsEnabled")
    if enabled is not None:
        endpoint_id = self._get_param("VpcEndpointId")
        for endpoint in self.ec2_backend.describe_vpc_endpoints(vpc_end_point_ids=[endpoint_id]):
            endpoint.private_dns_enabled = enabled
    return result


VPCs.modify_vpc_endpoint = modify_vpc_endpoint


# The request log.
_log_path = os.environ.get("PRIVATELINKD_REQUEST_LOG")
_log_lock = threading.Lock()
_call_action = BaseResponse.call_action


def call_action(self):
    if _log_path:
        agent = self.headers.get("User-Agent", "-").replace("\n", " ")
        line = f"{time.monotonic_ns()} {self.service_name} {self._get_action()} {agent}\n"
        with _log_lock, open(_log_path, "a") as log:
            log.write(line)
    return _call_action(self)


BaseResponse.call_action = call_action

if __name__ == "__main__":
    main()
