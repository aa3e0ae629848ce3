"""Self-check of tests/support/moto_server.py: it must be as strict as AWS where it says it is.

Starts the launcher on a free loopback port (killed at the end), then with boto3:
  (a) 20 threads race a conditional UpdateItem (`attribute_not_exists(holder)`) on one item,
      and 20 race a TransactWriteItems (ConditionCheck + conditional Update + Put): exactly one
      wins each round, and a loser's transaction leaves nothing behind;
  (b) CreateVpcEndpoint with a ClientToken is idempotent: a repeat answers the same endpoint
      with the same response shape (current state and tags, even once deleted), different
      parameters answer IdempotentParameterMismatch (HTTP 400, moto's EC2 error XML), tokens
      are per region, creates without a token stay distinct, and 20 racing creates with one
      token make one endpoint;
  (c) the request log has one well-formed line per request sent.
It also prints, without judging, what moto does with a few DynamoDB features a ledger may use.
Needs only what moto[server] installs (boto3 comes with it). About 10 s; at most DEADLINE_S.
Against plain moto (--plain) most checks fail; the races lose only some rounds, hence ROUNDS.

    python3 tests/support/check_strict_moto.py            # exits non-zero on any failure
    python3 tests/support/check_strict_moto.py --plain    # same check against plain moto_server
                                                           # (shows that the check has teeth)
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

DEADLINE_S = 120  # the whole check; a hung server or deadlock fails it instead of hanging CI
ROUNDS = 20  # races per kind: plain moto lost 3 UpdateItem races in 40 here, and more transactions
THREADS = 20
HERE = os.path.dirname(os.path.abspath(__file__))

failures = []
requests_sent = 0
requests_lock = threading.Lock()


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        failures.append(what)


def info(what):
    print(f"info {what}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def count_request(**_):
    global requests_sent
    with requests_lock:
        requests_sent += 1


def client(service, url, region="us-east-1"):
    c = boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            retries={"total_max_attempts": 1},  # a retry must not hide a lost race
            max_pool_connections=THREADS + 5,
            connect_timeout=5,
            read_timeout=30,
            user_agent_extra="check-strict-moto",
        ),
    )
    c.meta.events.register("before-send", count_request)
    return c


def error_code(e):
    return e.response.get("Error", {}).get("Code")


def codes(errors, expected):
    """How many of each error code; for an unexpected one, the start of a message as a clue."""
    seen = {}
    for e in errors:
        seen.setdefault(error_code(e), []).append(e.response["Error"].get("Message", ""))
    return ", ".join(
        f"{len(messages)} {code}" + ("" if code == expected else f": {messages[0][:160]!r}")
        for code, messages in sorted(seen.items(), key=lambda x: -len(x[1]))
    )


def race(n, attempt):
    """Runs attempt(i) on n threads released together; returns [(i, None | ClientError)]."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        try:
            attempt(i)
            results[i] = (i, None)
        except ClientError as e:
            results[i] = (i, e)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return [r for r in results if r is not None]


# (a) DynamoDB ----------------------------------------------------------------------------------


def check_dynamodb(url):
    ddb = client("dynamodb", url)
    ddb.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    for r in range(ROUNDS):
        key = {"pk": {"S": f"lease-{r}"}}
        ddb.put_item(TableName="ledger", Item=key)

        def take(i, key=key):
            ddb.update_item(
                TableName="ledger",
                Key=key,
                UpdateExpression="SET holder = :me",
                ConditionExpression="attribute_not_exists(holder)",
                ExpressionAttributeValues={":me": {"S": f"t{i}"}},
            )

        results = race(THREADS, take)
        won = [i for i, e in results if e is None]
        lost = [e for _, e in results if e is not None]
        check(
            len(results) == THREADS and len(won) == 1,
            f"UpdateItem race {r}: {len(won)} of {THREADS} took the lease (must be 1)",
        )
        check(
            all(error_code(e) == "ConditionalCheckFailedException" for e in lost),
            f"UpdateItem race {r}: every loser got ConditionalCheckFailedException "
            f"({codes(lost, 'ConditionalCheckFailedException')})",
        )
        holder = ddb.get_item(TableName="ledger", Key=key, ConsistentRead=True)["Item"]
        check(
            won and holder.get("holder", {}).get("S") == f"t{won[0]}",
            f"UpdateItem race {r}: the item names the one winner",
        )

    ddb.put_item(TableName="ledger", Item={"pk": {"S": "epoch"}, "epoch": {"N": "7"}})
    for r in range(ROUNDS):
        key = {"pk": {"S": f"txlease-{r}"}}

        def take_in_transaction(i, key=key, r=r):
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": "ledger",
                            "Key": {"pk": {"S": "epoch"}},
                            "ConditionExpression": "epoch = :e",
                            "ExpressionAttributeValues": {":e": {"N": "7"}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": "ledger",
                            "Key": key,
                            "UpdateExpression": "SET holder = :me",
                            "ConditionExpression": "attribute_not_exists(holder)",
                            "ExpressionAttributeValues": {":me": {"S": f"t{i}"}},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {"Put": {"TableName": "ledger", "Item": {"pk": {"S": f"claim-{r}-{i}"}}}},
                ]
            )

        results = race(THREADS, take_in_transaction)
        won = [i for i, e in results if e is None]
        lost = [e for _, e in results if e is not None]
        check(
            len(results) == THREADS and len(won) == 1,
            f"TransactWriteItems race {r}: {len(won)} of {THREADS} committed (must be 1)",
        )
        check(
            all(error_code(e) == "TransactionCanceledException" for e in lost),
            f"TransactWriteItems race {r}: every loser got TransactionCanceledException "
            f"({codes(lost, 'TransactionCanceledException')})",
        )
        claims = [
            i
            for i in range(THREADS)
            if "Item"
            in ddb.get_item(
                TableName="ledger", Key={"pk": {"S": f"claim-{r}-{i}"}}, ConsistentRead=True
            )
        ]
        check(
            claims == won,
            f"TransactWriteItems race {r}: only the winner's Put was written "
            f"(winners {won}, Puts written {claims})",
        )
        if r == 0 and lost:
            reasons = lost[0].response.get("CancellationReasons")
            info(f"a lost transaction's CancellationReasons (ALL_OLD on the Update): {reasons}")
            check(
                reasons is not None
                and [x.get("Code") for x in reasons] == ["None", "ConditionalCheckFailed", "None"]
                and reasons[1].get("Item", {}).get("holder") == {"S": f"t{won[0] if won else '?'}"},
                "TransactWriteItems: the loser's reason names the failed Update and returns "
                "the winner's item",
            )

    probe_dynamodb(ddb)


def probe_dynamodb(ddb):
    """What moto does with features a DynamoDB-backed ledger may use (reported, not judged)."""
    try:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": "ledger",
                        "Key": {"pk": {"S": "epoch"}},
                        "ConditionExpression": "epoch = :e",
                        "ExpressionAttributeValues": {":e": {"N": "6"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {"Put": {"TableName": "ledger", "Item": {"pk": {"S": "fenced-out"}}}},
            ]
        )
        info("a failing ConditionCheck did not cancel the transaction")
    except ClientError as e:
        info(
            f"a failing ConditionCheck (ALL_OLD): {error_code(e)}, "
            f"CancellationReasons {e.response.get('CancellationReasons')}, "
            f"message {e.response['Error'].get('Message')!r}"
        )
    written = "Item" in ddb.get_item(TableName="ledger", Key={"pk": {"S": "fenced-out"}})
    info(f"... and its Put was written: {written}")

    try:
        ddb.put_item(
            TableName="ledger",
            Item={"pk": {"S": "epoch"}, "epoch": {"N": "8"}},
            ConditionExpression="epoch = :e",
            ExpressionAttributeValues={":e": {"N": "6"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        info("a failing conditional PutItem succeeded")
    except ClientError as e:
        info(
            f"a failing conditional PutItem (ALL_OLD): {error_code(e)}, "
            f"Item {e.response.get('Item')}"
        )

    try:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": "ledger",
                        "Key": {"pk": {"S": "epoch"}},
                        "ConditionExpression": "attribute_exists(epoch)",
                    }
                },
                {
                    "Update": {
                        "TableName": "ledger",
                        "Key": {"pk": {"S": "epoch"}},
                        "UpdateExpression": "SET epoch = :e",
                        "ExpressionAttributeValues": {":e": {"N": "8"}},
                    }
                },
            ]
        )
        info("two actions on one item in one transaction: accepted (DynamoDB rejects it)")
    except ClientError as e:
        info(f"two actions on one item in one transaction: {error_code(e)}")

    try:
        out = ddb.batch_get_item(
            RequestItems={
                "ledger": {
                    "Keys": [{"pk": {"S": k}} for k in ("epoch", "lease-0", "nope")],
                    "ConsistentRead": True,
                }
            }
        )
        got = sorted(i["pk"]["S"] for i in out["Responses"].get("ledger", []))
        info(
            f"BatchGetItem of 3 keys (1 missing): items {got}, "
            f"UnprocessedKeys {out.get('UnprocessedKeys')}"
        )
    except ClientError as e:
        info(f"BatchGetItem: {error_code(e)}")
    try:
        keys = [{"pk": {"S": f"k{i}"}} for i in range(101)]
        ddb.batch_get_item(RequestItems={"ledger": {"Keys": keys}})
        info("BatchGetItem of 101 keys: accepted (DynamoDB's limit is 100)")
    except ClientError as e:
        info(f"BatchGetItem of 101 keys: {error_code(e)}")


# (b) EC2 --------------------------------------------------------------------------------------


def element_paths(xml_bytes, skip=("requestId", "RequestID", "RequestId")):
    """The XML as a sorted list of (path, text), without namespaces and request ids."""
    out = []

    def walk(node, path):
        tag = node.tag.split("}")[-1]
        here = f"{path}/{tag}"
        if tag in skip:
            return
        out.append((here, (node.text or "").strip()))
        for child in node:
            walk(child, here)

    walk(ET.fromstring(xml_bytes), "")
    return sorted(out)


class RawBodies:
    """The raw HTTP bodies of one client's responses, last first."""

    def __init__(self, c):
        self.bodies = []
        c.meta.events.register("after-call", self.after_call)  # errors too, before raising

    def after_call(self, http_response=None, **_):
        self.bodies.insert(0, (http_response.status_code, http_response.content))

    def last(self):
        return self.bodies[0]


def check_ec2(url):
    ec2 = client("ec2", url)
    raw = RawBodies(ec2)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet_a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24", AvailabilityZone="us-east-1a")
    subnet_b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.2.0/24", AvailabilityZone="us-east-1b")
    subnet_a, subnet_b = subnet_a["Subnet"]["SubnetId"], subnet_b["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="g", Description="g", VpcId=vpc)["GroupId"]
    sg2 = ec2.create_security_group(GroupName="g2", Description="g2", VpcId=vpc)["GroupId"]
    service = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
    params = dict(
        VpcId=vpc,
        ServiceName=service,
        VpcEndpointType="Interface",
        SubnetIds=[subnet_a, subnet_b],
        SecurityGroupIds=[sg],
        PrivateDnsEnabled=False,
        TagSpecifications=[
            {"ResourceType": "vpc-endpoint", "Tags": [{"Key": "owner", "Value": "privatelinkd"}]}
        ],
    )

    first = ec2.create_vpc_endpoint(ClientToken="token-1", **params)["VpcEndpoint"]
    first_raw = raw.last()
    again = ec2.create_vpc_endpoint(ClientToken="token-1", **params)["VpcEndpoint"]
    again_raw = raw.last()
    check(
        again["VpcEndpointId"] == first["VpcEndpointId"],
        f"same token: same endpoint ({first['VpcEndpointId']}, {again['VpcEndpointId']})",
    )
    check(
        again_raw[0] == first_raw[0] == 200
        and element_paths(again_raw[1]) == element_paths(first_raw[1]),
        "same token: the repeat's XML is the fresh create's, element for element (but requestId)",
    )
    all_endpoints = ec2.describe_vpc_endpoints()["VpcEndpoints"]
    check(
        len(all_endpoints) == 1,
        f"same token: one endpoint in DescribeVpcEndpoints ({len(all_endpoints)})",
    )

    reordered = dict(params, SubnetIds=[subnet_b, subnet_a])
    again = ec2.create_vpc_endpoint(ClientToken="token-1", **reordered)["VpcEndpoint"]
    check(
        again["VpcEndpointId"] == first["VpcEndpointId"],
        "same token, subnets reordered: same endpoint",
    )

    ec2.create_tags(Resources=[first["VpcEndpointId"]], Tags=[{"Key": "later", "Value": "1"}])
    ec2.modify_vpc_endpoint(VpcEndpointId=first["VpcEndpointId"], PrivateDnsEnabled=True)
    again = ec2.create_vpc_endpoint(ClientToken="token-1", **params)["VpcEndpoint"]
    tags = {t["Key"]: t["Value"] for t in again.get("Tags", [])}
    check(
        tags == {"owner": "privatelinkd", "later": "1"} and again.get("PrivateDnsEnabled") is True,
        f"same token after CreateTags and ModifyVpcEndpoint: the endpoint as it is now ({tags}, "
        f"PrivateDnsEnabled {again.get('PrivateDnsEnabled')})",
    )

    mismatches = {
        "VpcId": ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"],
        "ServiceName": service + "1",
        "SubnetIds": [subnet_a],
        "SecurityGroupIds": [sg, sg2],
        "PrivateDnsEnabled": True,
        "VpcEndpointType": "Gateway",
    }
    for name, value in mismatches.items():
        try:
            ec2.create_vpc_endpoint(ClientToken="token-1", **dict(params, **{name: value}))
            check(False, f"same token, other {name}: IdempotentParameterMismatch (it succeeded)")
        except ClientError as e:
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
            check(
                error_code(e) == "IdempotentParameterMismatch" and status == 400,
                f"same token, other {name}: {error_code(e)}, HTTP {status}",
            )
    mismatch_raw = raw.last()
    try:
        ec2.create_vpc_endpoint(ClientToken="token-x", **dict(params, VpcId="vpc-00000000"))
    except ClientError as e:
        not_found = error_code(e)
    moto_raw = raw.last()
    shape = lambda body: [p for p, _ in element_paths(body)]  # noqa: E731
    check(
        mismatch_raw[0] == moto_raw[0] == 400 and shape(mismatch_raw[1]) == shape(moto_raw[1]),
        f"the mismatch's XML has the shape of moto's own EC2 errors ({not_found}): "
        f"{mismatch_raw[1].decode()!r}",
    )
    try:
        ec2.create_vpc_endpoint(ClientToken="token-x", **params)
        check(True, "a token whose create failed is free for a good create")
    except ClientError as e:
        check(False, f"a token whose create failed is free for a good create ({error_code(e)})")

    ec2.delete_vpc_endpoints(VpcEndpointIds=[first["VpcEndpointId"]])
    again = ec2.create_vpc_endpoint(ClientToken="token-1", **params)["VpcEndpoint"]
    check(
        again["VpcEndpointId"] == first["VpcEndpointId"] and again["State"].lower() == "deleted",
        f"same token after DeleteVpcEndpoints: the same endpoint, {again['State']}",
    )
    try:
        ec2.create_vpc_endpoint(ClientToken="token-1", **dict(params, SubnetIds=[subnet_b]))
        check(
            False,
            "same token after delete, other params: IdempotentParameterMismatch (it succeeded)",
        )
    except ClientError as e:
        check(
            error_code(e) == "IdempotentParameterMismatch",
            f"same token after delete, other params: {error_code(e)}",
        )

    one = ec2.create_vpc_endpoint(**params)["VpcEndpoint"]["VpcEndpointId"]
    two = ec2.create_vpc_endpoint(**params)["VpcEndpoint"]["VpcEndpointId"]
    check(one != two, f"no token: two distinct endpoints ({one}, {two})")

    west = client("ec2", url, region="us-west-2")
    west_vpc = west.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    other = west.create_vpc_endpoint(
        ClientToken="token-1", VpcId=west_vpc, ServiceName="com.amazonaws.us-west-2.s3"
    )["VpcEndpoint"]["VpcEndpointId"]
    check(other != first["VpcEndpointId"], "the same token in another region is another token")

    def create_same(i):
        ec2.create_vpc_endpoint(ClientToken="token-race", **params)

    results = race(THREADS, create_same)
    ids = {
        e["VpcEndpointId"]
        for e in ec2.describe_vpc_endpoints(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}]
        )["VpcEndpoints"]
    }
    errors = [error_code(e) for _, e in results if e is not None]
    check(
        not errors and len(ids) == 5,  # token-1 (deleted), token-x, two without a token, token-race
        f"{THREADS} racing creates with one token: no errors ({errors}), one new endpoint "
        f"({len(ids) - 4} new)",
    )


# (c) the request log --------------------------------------------------------------------------


def check_log(path):
    with open(path) as f:
        lines = f.read().splitlines()
    well_formed = [
        line
        for line in lines
        if len(line.split(" ", 3)) == 4
        and line.split(" ", 3)[0].isdigit()
        and line.split(" ", 3)[1] in ("ec2", "dynamodb")
        and "check-strict-moto" in line.split(" ", 3)[3]
    ]
    check(
        len(lines) == requests_sent and len(well_formed) == len(lines),
        f"request log: {len(lines)} lines ({len(well_formed)} well formed) "
        f"for {requests_sent} requests",
    )
    stamps = [int(line.split(" ", 1)[0]) for line in lines]
    check(stamps == sorted(stamps), "request log: lines in the order requests were served")


# ----------------------------------------------------------------------------------------------


def main():
    plain = "--plain" in sys.argv[1:]
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("deadline")))
    signal.alarm(DEADLINE_S)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "requests.log")
        command = (
            [sys.executable, "-m", "moto.server"]
            if plain
            else [sys.executable, os.path.join(HERE, "moto_server.py")]
        )
        server = subprocess.Popen(
            command + ["-H", "127.0.0.1", "-p", str(port)],
            env=dict(os.environ, PRIVATELINKD_REQUEST_LOG=log),
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(tmp, "server.err"), "w"),
            start_new_session=True,
        )
        try:
            start = time.monotonic()
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() - start > 30:
                        raise RuntimeError("moto_server did not start") from None
                    time.sleep(0.1)
            print(f"{' '.join(command)} on {url}", flush=True)
            check_dynamodb(url)
            check_ec2(url)
            if not plain:
                check_log(log)
        except Exception as e:  # a crash or the deadline is a failure, not a traceback only
            check(False, f"the check ran to its end ({type(e).__name__}: {e})")
            with open(os.path.join(tmp, "server.err")) as err:
                sys.stderr.write(err.read()[-4000:])
        finally:
            signal.alarm(0)
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print(f"{len(failures)} failure(s)" if failures else "all checks passed", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
