//! The daemon binary with `aws: real` against moto, end to end: converges, corrects drift,
//! edits in place and deletes.

use std::time::Duration;

use crate::common::moto::{Moto, seed};
use crate::common::*;

#[test]
fn the_daemon_converges_edits_and_deletes_real_endpoints() {
    let moto = Moto::start();
    let net = runtime().block_on(async { seed(&moto.sdk().await).await });
    // The simulated TiDB Cloud's cluster offers the zones of moto's subnets.
    let zones: Vec<&str> = net
        .subnets
        .iter()
        .map(|(_, az)| az.as_str())
        .filter(|az| *az != "use1-az2")
        .collect();
    let world = format!(
        "clusters:\n  - id: \"{CLUSTER}\"\n    projectId: \"1372813089454548012\"\n    region: us-east-1\n    nodeGroups: [{{id: \"1379661944646413144\", default: true, availableZones: [{}]}}]\ntiming: {{serviceCreate: 0s, accept: 1s, activate: 2s, privateDns: 1s, delete: 1s}}\ntimeScale: 20\n",
        zones.join(", ")
    );
    let setup = Setup::new(
        &world,
        &format!(
            "cloud: {{tidbCloud: simulated, aws: real}}\naws: {{endpointUrl: \"{}\"}}\n",
            moto.url
        ),
    );
    // Settled endpoints are looked at every interval: a short one, for the hand-made changes.
    setup.edit_config(|c| c.replace("interval: 60s", "interval: 2s"));
    let subnet = |i: usize| net.subnets[i].0.clone();
    // The AZ subnet checks need AWS IDs of the form the spec accepts: moto's are.
    let doc = |name: &str, subnets: &[String]| {
        format!(
            "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: {name}}}\nspec:\n  tidbCloud: {{clusterId: \"{CLUSTER}\"}}\n  aws:\n    region: us-east-1\n    vpcId: {}\n    subnetIds: [{}]\n    securityGroupIds: [{}]\n  privateDns: true\n",
            net.vpc,
            subnets.join(", "),
            net.groups[0]
        )
    };
    setup.write("orders.yaml", &doc("orders", &[subnet(1)]));
    setup.write("bad-zone.yaml", &doc("bad-zone", &[subnet(2)]));
    let daemon = Daemon::start(&setup, &[]);
    let settle = |what: &str, check: &dyn Fn() -> bool| {
        if !eventually(Duration::from_secs(60), check) {
            panic!(
                "timed out waiting for {what}; the daemon said\n{}",
                daemon.log()
            );
        }
    };
    settle("orders Active", &|| {
        setup.phase("orders", "orders").as_deref() == Some("Active")
    });
    let bad = setup.status("bad-zone").unwrap();
    assert_eq!(bad["endpoints"][0]["phase"], "Failed");
    assert!(
        bad["endpoints"][0]["message"]
            .as_str()
            .unwrap()
            .contains("use1-az2")
    );

    let sdk = runtime().block_on(moto.sdk());
    // The group moto made has no inbound rule: PortAllowed says which rule to add, naming the
    // group, the port and the VPC's CIDR (described from moto in batches).
    let port_allowed = || setup.condition("orders", "PortAllowed");
    let (status, message) = port_allowed().unwrap();
    assert_eq!(status, "False");
    assert!(
        message.contains(&format!(
            "add an inbound rule to {}: TCP, port 4000, source 10.0.0.0/16",
            net.groups[0]
        )),
        "{message}"
    );
    // A person adds the rule by hand: True within a pass.
    runtime()
        .block_on(
            sdk.authorize_security_group_ingress()
                .group_id(&net.groups[0])
                .ip_permissions(
                    aws_sdk_ec2::types::IpPermission::builder()
                        .ip_protocol("tcp")
                        .from_port(4000)
                        .to_port(4000)
                        .ip_ranges(
                            aws_sdk_ec2::types::IpRange::builder()
                                .cidr_ip("10.0.0.0/16")
                                .build(),
                        )
                        .build(),
                )
                .send(),
        )
        .unwrap();
    settle("PortAllowed True", &|| {
        port_allowed().is_some_and(|(s, _)| s == "True")
    });
    let live = |sdk: &aws_sdk_ec2::Client| {
        runtime().block_on(async {
            let out = sdk.describe_vpc_endpoints().send().await.unwrap();
            out.vpc_endpoints()
                .iter()
                .filter(|e| e.state().map(|s| s.as_str()) != Some("deleted"))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(live(&sdk).len(), 1);
    assert_eq!(
        live(&sdk)[0].private_dns_enabled(),
        Some(true),
        "private DNS turned on after acceptance"
    );
    // Drift: someone turns private DNS off by hand; the daemon turns it on again.
    let id = live(&sdk)[0].vpc_endpoint_id().unwrap().to_string();
    runtime()
        .block_on(
            sdk.modify_vpc_endpoint()
                .vpc_endpoint_id(&id)
                .private_dns_enabled(false)
                .send(),
        )
        .unwrap();
    assert_eq!(live(&sdk)[0].private_dns_enabled(), Some(false));
    settle("private DNS on again", &|| {
        live(&sdk)[0].private_dns_enabled() == Some(true)
            && setup.phase("orders", "orders").as_deref() == Some("Active")
    });
    // Edit: a second subnet, corrected in place.
    setup.write("orders.yaml", &doc("orders", &[subnet(1), subnet(3)]));
    settle("subnet added in moto", &|| {
        live(&sdk)
            .first()
            .is_some_and(|e| e.subnet_ids().len() == 2)
    });
    assert_eq!(live(&sdk).len(), 1, "modified in place, not replaced");
    // Drift: someone removes a subnet by hand; the daemon puts it back.
    runtime()
        .block_on(
            sdk.modify_vpc_endpoint()
                .vpc_endpoint_id(&id)
                .remove_subnet_ids(subnet(3))
                .send(),
        )
        .unwrap();
    settle("drift corrected", &|| {
        live(&sdk)
            .first()
            .is_some_and(|e| e.subnet_ids().len() == 2)
    });
    // Drift: someone deletes the VPC endpoint in the console. The daemon makes a new one, and
    // deletes the connection the old one left in TiDB Cloud once moto, asked by ID, confirms
    // the old endpoint is gone.
    assert_eq!(setup.live_connections(), std::slice::from_ref(&id));
    runtime()
        .block_on(sdk.delete_vpc_endpoints().vpc_endpoint_ids(&id).send())
        .unwrap();
    settle("replaced, and the old connection deleted", &|| {
        let now = live(&sdk);
        now.len() == 1
            && now[0].vpc_endpoint_id() != Some(id.as_str())
            && setup.live_connections() == [now[0].vpc_endpoint_id().unwrap()]
            && setup.phase("orders", "orders").as_deref() == Some("Active")
    });
    // Removal: the endpoint is deleted in moto.
    setup.remove("orders.yaml");
    settle("endpoint deleted in moto", &|| live(&sdk).is_empty());

    daemon.signal("TERM");
    let (code, log) = daemon.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0));
    assert!(log.contains("delete_vpc_endpoint"));
}
