//! Google Cloud's rows: a Private Service Connect endpoint is made in two steps, an internal
//! address reserved in the subnetwork and then the forwarding rule to the service attachment
//! (TiDB Cloud's Google Cloud guide), each one pass's action, each checked first against the
//! network as observed. Once the rule exists, the cloud-neutral rows take over (registration,
//! acceptance: `pscConnectionStatus` maps onto the seam's `Lifecycle`).

use std::net::Ipv4Addr;

use super::super::{Action, EndpointPlan, Phase, ownership};
use super::Situation;
use crate::cloud::gcp::CreatePsc;

/// No endpoint, or an address without its forwarding rule yet: a create is (still) to come.
fn creating(s: &Situation<'_>) -> bool {
    match (s.endpoint, s.psc) {
        (None, _) => true,
        (Some(_), Some(psc)) => psc.rule.is_none(),
        (Some(_), None) => false,
    }
}

/// A network or subnetwork that is missing or elsewhere, a fixed address outside the
/// subnetwork: Compute Engine would refuse the insert with less to go on.
pub(super) fn placement_fails_before_create(s: &Situation<'_>) -> Option<EndpointPlan> {
    let gcp = s.gcp?;
    if !creating(s) || s.spec.adopts().is_some() {
        return None;
    }
    let place = s.o.gcp_place.as_deref()?;
    let (network, subnetwork) = (gcp.network.name(), gcp.subnetwork.name());
    let mut problems = Vec::new();
    if !place.network_exists {
        problems.push(format!(
            "VPC network {network} does not exist in project {}",
            gcp.project
        ));
    }
    match &place.subnetwork {
        None => problems.push(format!(
            "subnetwork {subnetwork} does not exist in {} (project {})",
            gcp.region, gcp.project
        )),
        Some(sub) if sub.network != network => problems.push(format!(
            "subnetwork {subnetwork} is in network {}, not in {network}",
            sub.network
        )),
        Some(sub) => {
            if let Some(ip) = gcp.address
                && !in_cidr(ip, &sub.ip_cidr_range)
            {
                problems.push(format!(
                    "address {ip} is not in subnetwork {subnetwork} ({})",
                    sub.ip_cidr_range
                ));
            }
        }
    }
    (!problems.is_empty()).then(|| s.here(Phase::Failed, problems.join("; ")))
}

/// The network is looked up only when a create needs checking: no create on an unchecked one.
pub(super) fn network_not_checked_before_create(s: &Situation<'_>) -> Option<EndpointPlan> {
    s.gcp?;
    (creating(s) && s.spec.adopts().is_none() && s.o.gcp_place.is_none())
        .then(|| s.here(Phase::NotConfigured, "waiting to check the network"))
}

/// Reserve the address; once it is reserved, create the forwarding rule. Registration waits
/// for the rule (TiDB Cloud answers `not received connection request from endpoint` before).
pub(super) fn create(s: &Situation<'_>) -> Option<EndpointPlan> {
    let gcp = s.gcp?;
    if !creating(s) || s.spec.adopts().is_some() {
        return None;
    }
    let service = s.service?;
    let name = gcp.endpoint_name(&s.desired.doc.metadata.name).to_string();
    let message = match s.psc {
        None => "reserving the endpoint's internal address",
        Some(_) => "creating the forwarding rule",
    };
    let mut plan = s.here(Phase::NotConfigured, message);
    plan.recreating = s.o.recreating && s.endpoint.is_none();
    plan.actions.push(Action::CreatePscEndpoint {
        scope: s.scope.clone(),
        request: CreatePsc {
            name,
            network: gcp.network.name().to_string(),
            subnetwork: gcp.subnetwork.name().to_string(),
            address: gcp.address.map(|ip| ip.to_string()),
            target: service.name.clone(),
            allow_psc_global_access: gcp.global_access,
            marks: ownership::ownership_tags(s.desired, s.owner_id),
            token: ownership::client_token(s.owner_id, s.desired.doc, &service.name),
            reserved: s
                .psc
                .and_then(|p| p.address.as_ref())
                .map(|a| a.name.clone()),
        },
    });
    Some(plan)
}

/// What is not where the document (or the cluster's service) says: a forwarding rule cannot
/// be moved or re-pointed, only replaced (the `moved` rows).
pub(super) fn moved_from(s: &Situation<'_>) -> Option<String> {
    let (gcp, psc, service) = (s.gcp?, s.psc?, s.service?);
    let mut what = Vec::new();
    if let Some(rule) = &psc.rule {
        if rule.target != service.name {
            what.push(format!(
                "targets {}, not the cluster's service attachment {}",
                rule.target, service.name
            ));
        }
        if rule.network != gcp.network.name() {
            what.push(format!(
                "is in network {}, not {}",
                rule.network,
                gcp.network.name()
            ));
        }
        if rule.allow_psc_global_access != gcp.global_access {
            what.push(format!(
                "has global access {}, the document says {}",
                rule.allow_psc_global_access, gcp.global_access
            ));
        }
    }
    if let Some(address) = &psc.address {
        if address.subnetwork != gcp.subnetwork.name() {
            what.push(format!(
                "has its address in subnetwork {}, not {}",
                address.subnetwork,
                gcp.subnetwork.name()
            ));
        }
        if let Some(ip) = gcp.address
            && address.address != ip.to_string()
        {
            what.push(format!("has address {}, not {ip}", address.address));
        }
    }
    (!what.is_empty()).then(|| {
        format!(
            "Private Service Connect endpoint {} {}",
            psc.name,
            what.join(", ")
        )
    })
}

/// Whether `ip` lies in `cidr` (`10.8.0.0/20`); a malformed range holds nothing.
fn in_cidr(ip: Ipv4Addr, cidr: &str) -> bool {
    let Some((base, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(base), Ok(bits)) = (base.parse::<Ipv4Addr>(), bits.parse::<u32>()) else {
        return false;
    };
    let mask = u32::MAX.checked_shl(32 - bits.min(32)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(base) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_membership() {
        let ip = |t: &str| t.parse::<Ipv4Addr>().unwrap();
        assert!(in_cidr(ip("10.8.0.20"), "10.8.0.0/20"));
        assert!(in_cidr(ip("10.8.15.255"), "10.8.0.0/20"));
        assert!(!in_cidr(ip("10.8.16.0"), "10.8.0.0/20"));
        assert!(in_cidr(ip("1.2.3.4"), "0.0.0.0/0"));
        assert!(!in_cidr(ip("1.2.3.4"), "nonsense"));
    }
}
