//! Where an endpoint goes: what stops a create or a modify in the VPC as observed, and how an
//! endpoint's subnets and security groups differ from its document.

use std::collections::BTreeMap;

use super::{Desired, Observed};
use crate::cloud::{ModifyEndpoint, Network, Service, VpcEndpoint};
use crate::spec::EndpointSpec;

/// Problems that stop a create or modify, checked against the VPC as observed.
pub(super) fn placement_problem(
    desired: &Desired<'_>,
    o: &Observed,
    service: &Service,
    creating: bool,
) -> Option<String> {
    let aws = &desired.doc.spec.aws;
    let network = o.network.as_ref()?;
    let vpc = aws.vpc_id.as_str();
    let mut problems = Vec::new();
    if !network.vpcs.contains_key(vpc) {
        problems.push(format!(
            "VPC {vpc} does not exist in {} (account {})",
            aws.region, aws.account
        ));
    }
    let mut zones: BTreeMap<&str, &str> = BTreeMap::new();
    for subnet in &aws.subnet_ids {
        match network.subnets.get(subnet.as_str()) {
            None => problems.push(format!("subnet {subnet} does not exist")),
            Some((subnet_vpc, _)) if subnet_vpc != vpc => {
                problems.push(format!("subnet {subnet} is in {subnet_vpc}, not in {vpc}"))
            }
            Some((_, az)) => {
                if !service.available_zones.contains(az) {
                    problems.push(format!(
                        "subnet {subnet} is in availability zone {az}, which the cluster's service does not offer (it offers {}): use a subnet in one of those zones, or ask TiDB Cloud support to add {az} to the service",
                        service.available_zones.join(", ")
                    ));
                }
                if let Some(first) = zones.insert(az, subnet.as_str()) {
                    problems.push(format!("subnets {first} and {subnet} are both in {az}; use one subnet per availability zone"));
                }
            }
        }
    }
    for group in &aws.security_group_ids {
        match network.security_groups.get(group.as_str()) {
            None => problems.push(format!("security group {group} does not exist")),
            Some(group_vpc) if group_vpc != vpc => problems.push(format!(
                "security group {group} is in {group_vpc}, not in {vpc}"
            )),
            Some(_) => {}
        }
    }
    if creating && desired.doc.spec.private_dns {
        problems.extend(dns_problem(network, vpc));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Private DNS needs both DNS attributes of the VPC on.
pub(super) fn dns_problem(network: &Network, vpc: &str) -> Option<String> {
    let (support, hostnames) = network.vpcs.get(vpc)?;
    (!(support & hostnames)).then(|| {
        format!(
            "private DNS needs enableDnsSupport and enableDnsHostnames on {vpc} (now {support} and {hostnames}); \
             turn them on or set privateDns: false"
        )
    })
}

/// Whether `endpoint` has exactly the document's subnets and security groups (what `drift`
/// would find nothing to correct in), without building the correction.
pub fn in_place(spec: &EndpointSpec, endpoint: &VpcEndpoint) -> bool {
    fn same<T: AsRef<str>>(want: &[T], have: &[String]) -> bool {
        want.iter().all(|w| have.iter().any(|h| h == w.as_ref()))
            && have.iter().all(|h| want.iter().any(|w| w.as_ref() == h))
    }
    let aws = &spec.aws;
    same(&aws.subnet_ids, &endpoint.subnet_ids)
        && (aws.security_group_ids.is_empty()
            || same(&aws.security_group_ids, &endpoint.security_group_ids))
}

/// How an endpoint's subnets and security groups differ from the spec, as the modify that
/// corrects them (empty lists when they agree).
pub fn drift(spec: &EndpointSpec, endpoint: &VpcEndpoint) -> ModifyEndpoint {
    let want_subnets: Vec<String> = spec
        .aws
        .subnet_ids
        .iter()
        .map(ToString::to_string)
        .collect();
    let want_groups: Vec<String> = spec
        .aws
        .security_group_ids
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut modify = ModifyEndpoint {
        endpoint_id: endpoint.id.clone(),
        remove_subnet_ids: missing_from(&endpoint.subnet_ids, &want_subnets),
        add_subnet_ids: missing_from(&want_subnets, &endpoint.subnet_ids),
        ..ModifyEndpoint::default()
    };
    // An empty list asks for the VPC's default group; only explicit lists are enforced.
    if !want_groups.is_empty() {
        modify.remove_security_group_ids = missing_from(&endpoint.security_group_ids, &want_groups);
        modify.add_security_group_ids = missing_from(&want_groups, &endpoint.security_group_ids);
    }
    modify
}

fn missing_from(have: &[String], other: &[String]) -> Vec<String> {
    have.iter()
        .filter(|x| !other.contains(x))
        .cloned()
        .collect()
}
