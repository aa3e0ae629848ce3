"""VPC endpoints made by hand with boto3, as a person does before privatelinkd comes: the
estate `privatelinkd import` is tested on (tests/it/aws_moto/adoption.rs), in moto_server.

Usage (each prints one JSON value on stdout):
  python3 tests/support/hand_made_estate.py network URL
      a VPC (DNS support and hostnames on), a subnet in three zones, and a security group
      that lets the VPC reach TiDB on port 4000: {"vpc", "cidr", "subnets": [{"id", "azId"}],
      "securityGroup"}
  python3 tests/support/hand_made_estate.py endpoints URL JSON
      interface endpoints, one per item of the JSON list of {"vpc", "service", "subnets",
      "securityGroups", "privateDns"}: their IDs, in order
  python3 tests/support/hand_made_estate.py delete URL ID
      deletes VPC endpoint ID: {"deleted": ID}
"""

import json
import sys

import boto3


def ec2(url):
    return boto3.client(
        "ec2",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def network(client):
    cidr = "10.0.0.0/16"
    vpc = client.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
        client.modify_vpc_attribute(VpcId=vpc, **{attribute: {"Value": True}})
    subnets = []
    for i, zone in enumerate(["us-east-1a", "us-east-1b", "us-east-1c"]):
        subnet = client.create_subnet(
            VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone
        )["Subnet"]
        subnets.append({"id": subnet["SubnetId"], "azId": subnet["AvailabilityZoneId"]})
    group = client.create_security_group(
        GroupName="tidb", Description="TiDB Cloud over PrivateLink", VpcId=vpc
    )["GroupId"]
    client.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 4000,
                "ToPort": 4000,
                "IpRanges": [{"CidrIp": cidr}],
            }
        ],
    )
    return {"vpc": vpc, "cidr": cidr, "subnets": subnets, "securityGroup": group}


def endpoints(client, wanted):
    made = []
    for e in wanted:
        out = client.create_vpc_endpoint(
            VpcEndpointType="Interface",
            VpcId=e["vpc"],
            ServiceName=e["service"],
            SubnetIds=e["subnets"],
            SecurityGroupIds=e["securityGroups"],
            PrivateDnsEnabled=e["privateDns"],
        )
        made.append(out["VpcEndpoint"]["VpcEndpointId"])
    return made


def main(argv):
    command, url = argv[1], argv[2]
    client = ec2(url)
    if command == "network":
        result = network(client)
    elif command == "endpoints":
        result = endpoints(client, json.loads(argv[3]))
    elif command == "delete":
        client.delete_vpc_endpoints(VpcEndpointIds=[argv[3]])
        result = {"deleted": argv[3]}
    else:
        sys.exit(f"unknown command {command!r}\n{__doc__}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
