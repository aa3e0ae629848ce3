"""moto_server, with the one EC2 behaviour the tests need that moto leaves out, and a request log.

moto 5.2 ignores `PrivateDnsEnabled` in ModifyVpcEndpoint (moto/ec2/responses/vpcs.py reads
every other parameter); EC2 honours it, and privatelinkd's last step is to turn private DNS on.
This wraps the response handler so the flow can be proven on moto up to Active with private DNS,
and private-DNS drift can be tested. Everything else is moto's own.

With PRIVATELINKD_REQUEST_LOG=FILE, every request is logged to FILE as one line
`MONOTONIC_NS SERVICE ACTION USER_AGENT` (moto logs no User-Agent; the leader-election tests
tell daemons apart by theirs).

Usage (as `moto_server`): python3 tests/support/moto_server.py -H 127.0.0.1 -p PORT
"""

import os
import threading
import time

from moto.core.responses import BaseResponse

from moto.ec2.responses.vpcs import VPCs
from moto.server import main

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
