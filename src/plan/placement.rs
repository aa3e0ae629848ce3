//! Where an endpoint goes: what stops a create or a modify in the VPC as observed, and how an
//! endpoint's subnets and security groups differ from its document.

use std::collections::BTreeMap;

use super::{Desired, Observed};
use crate::cloud::{ModifyEndpoint, Network, Service, VpcEndpoint};
use crate::spec::AwsSide;

/// Problems that stop a create or modify, checked against the VPC as observed.
pub(super) fn placement_problem(
    desired: &Desired<'_>,
    o: &Observed,
    service: &Service,
    creating: bool,
) -> Option<String> {
    let aws = desired.doc.spec.aws()?;
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
///
/// `observe` asks this of every endpoint in every pass, so it compares the lists where they
/// are, with the comparison `IdDiff` makes, instead of building one.
pub fn in_place(aws: &AwsSide, endpoint: &VpcEndpoint) -> bool {
    let groups = &aws.security_group_ids;
    !differ(&aws.subnet_ids, &endpoint.subnet_ids)
        && (groups.is_empty() || !differ(groups, &endpoint.security_group_ids))
}

/// How an endpoint's subnets and security groups differ from the spec, as the modify that
/// corrects them (empty lists when they agree).
pub fn drift(aws: &AwsSide, endpoint: &VpcEndpoint) -> ModifyEndpoint {
    let subnets = IdDiff::subnets(aws, endpoint);
    let mut modify = ModifyEndpoint {
        endpoint_id: endpoint.id.clone(),
        remove_subnet_ids: subnets.to_remove(),
        add_subnet_ids: subnets.to_add(),
        ..ModifyEndpoint::default()
    };
    if let Some(groups) = IdDiff::security_groups(aws, endpoint) {
        modify.remove_security_group_ids = groups.to_remove();
        modify.add_security_group_ids = groups.to_add();
    }
    modify
}

/// One kind of ID an endpoint is placed with (subnets, security groups): the document's and
/// the endpoint's, compared as sets (AWS keeps no order). One comparison for the correction
/// (`drift`), the question whether there is one (`in_place`, which `observe` also asks before
/// looking at the VPC) and the preview, so that they cannot disagree on what differs.
pub(super) struct IdDiff<'a> {
    /// The document's, in its order: adds go to AWS in the order the user wrote.
    pub want: Vec<&'a str>,
    /// The endpoint's, in AWS's order.
    pub have: Vec<&'a str>,
}

impl<'a> IdDiff<'a> {
    fn new<T: AsRef<str>>(want: &'a [T], have: &'a [String]) -> Self {
        IdDiff {
            want: want.iter().map(AsRef::as_ref).collect(),
            have: have.iter().map(String::as_str).collect(),
        }
    }

    pub(super) fn subnets(aws: &'a AwsSide, endpoint: &'a VpcEndpoint) -> Self {
        IdDiff::new(&aws.subnet_ids, &endpoint.subnet_ids)
    }

    /// `None` when the document names no security group: an empty list asks AWS for the VPC's
    /// default group, and only explicit lists are enforced.
    pub(super) fn security_groups(aws: &'a AwsSide, endpoint: &'a VpcEndpoint) -> Option<Self> {
        let want = &aws.security_group_ids;
        (!want.is_empty()).then(|| IdDiff::new(want, &endpoint.security_group_ids))
    }

    /// What the endpoint lacks.
    pub(super) fn to_add(&self) -> Vec<String> {
        missing_from(&self.want, &self.have)
    }

    /// What the endpoint has that the document does not name.
    pub(super) fn to_remove(&self) -> Vec<String> {
        missing_from(&self.have, &self.want)
    }

    pub(super) fn differ(&self) -> bool {
        differ(&self.want, &self.have)
    }
}

/// Whether two lists of IDs differ as sets (a handful each: a scan beats a set).
fn differ<A: AsRef<str>, B: AsRef<str>>(want: &[A], have: &[B]) -> bool {
    fn absent<X: AsRef<str>, Y: AsRef<str>>(from: &[X], other: &[Y]) -> bool {
        from.iter()
            .any(|x| !other.iter().any(|y| y.as_ref() == x.as_ref()))
    }
    absent(want, have) || absent(have, want)
}

fn missing_from(from: &[&str], other: &[&str]) -> Vec<String> {
    from.iter()
        .filter(|x| !other.contains(x))
        .map(ToString::to_string)
        .collect()
}
