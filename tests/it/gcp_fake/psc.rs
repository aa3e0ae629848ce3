//! The Private Service Connect consumer (`Psc`) over the real client, end to end against the
//! fake: one step per pass, operations read on the next pass, the producer's acceptance,
//! marks as labels, the delete in two passes, and a failed operation reported by the next
//! create.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fake_gcp_compute::{Fault, OpError};
use privatelinkd::cloud::gcp::{CreatePsc, CreateStep, GcpClient, Psc, PscEndpoint};
use privatelinkd::cloud::{CloudError, Consumer, ConsumerEndpoint, Lifecycle};

use super::*;

const NAME: &str = "orders-gcp";
const OWNER: (&str, &str) = ("privatelinkd.io/owner", "me");

fn request() -> CreatePsc {
    CreatePsc {
        name: NAME.into(),
        network: "prod-vpc".into(),
        subnetwork: "prod-us-central1".into(),
        address: None,
        target: ATTACHMENT.into(),
        allow_psc_global_access: false,
        marks: BTreeMap::from([(OWNER.0.to_string(), OWNER.1.to_string())]),
        token: "orders.yaml#1".into(),
        reserved: None,
    }
}

/// The create as the planner asks for it after observing: with the address when reserved.
async fn seen(psc: &Psc<GcpClient>) -> CreatePsc {
    let reserved = ours(psc)
        .await
        .into_iter()
        .find(|e| e.name == NAME)
        .and_then(|e| e.address)
        .map(|a| a.name);
    CreatePsc {
        reserved,
        ..request()
    }
}

/// One pass's observation: our endpoints in the region.
async fn ours(psc: &Psc<GcpClient>) -> Vec<PscEndpoint> {
    let page = psc.list_marked(&scope(), OWNER, None).await.unwrap();
    assert_eq!(page.next, None, "Psc lists to the end itself");
    page.items
}

/// Passes (observe, then `step`) until `step` answers `Some`.
async fn passes<T, F, Fut>(psc: &Psc<GcpClient>, what: &str, mut step: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        ours(psc).await;
        if let Some(done) = step().await {
            return done;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn label<'a>(labels: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    labels.get(key).map(String::as_str)
}

/// The endpoint when both halves carry `privatelinkd-name` = `want` (or both lack it).
async fn both(psc: &Psc<GcpClient>, want: Option<&str>) -> Option<PscEndpoint> {
    let found = psc
        .describe_endpoints(&scope(), &[NAME.to_string()])
        .await
        .unwrap();
    let e = found.into_iter().next()?;
    let on_rule = label(&e.rule.as_ref()?.labels, "privatelinkd-name") == want;
    let on_address = label(&e.address.as_ref()?.labels, "privatelinkd-name") == want;
    (on_rule && on_address).then_some(e)
}

#[tokio::test]
async fn psc_over_the_real_client_creates_accepts_relabels_and_deletes_an_endpoint() {
    let (server, client) = start(timed(Duration::from_millis(30))).await;
    let psc = Psc::new(client);
    let s = scope();

    assert_eq!(
        psc.create(&s, &request()).await.unwrap(),
        CreateStep::ReservingAddress
    );
    assert_eq!(
        psc.create(&s, &request()).await.unwrap(),
        CreateStep::WaitingForAddress,
        "nothing is sent while the address's operation has not been seen done"
    );
    let step = passes(&psc, "the rule's step", || async {
        match psc.create(&s, &seen(&psc).await).await.unwrap() {
            CreateStep::WaitingForAddress | CreateStep::ReservingAddress => None,
            step => Some(step),
        }
    })
    .await;
    assert_eq!(step, CreateStep::CreatingRule);

    let endpoint = passes(&psc, "both halves", || async {
        let found = ours(&psc).await;
        found.into_iter().find(|e| e.rule.is_some())
    })
    .await;
    assert_eq!(endpoint.name, NAME);
    assert_eq!(
        (endpoint.project.as_str(), endpoint.region.as_str()),
        (PROJECT, REGION)
    );
    let (rule, address) = (
        endpoint.rule.as_ref().unwrap(),
        endpoint.address.as_ref().unwrap(),
    );
    assert_eq!(rule.ip_address, address.address);
    assert_eq!(endpoint.network(), Some("prod-vpc"));
    assert_eq!(endpoint.subnetwork(), Some("prod-us-central1"));
    assert_eq!(endpoint.service(), ATTACHMENT);
    assert!(endpoint.marked(OWNER.0, OWNER.1));
    assert_eq!(endpoint.lifecycle(), Lifecycle::AwaitingAcceptance);

    let link = format!("projects/{PROJECT}/regions/{REGION}/forwardingRules/{NAME}");
    server
        .fake
        .set_psc_status(ATTACHMENT, &link, fake_gcp_compute::PscStatus::Accepted)
        .unwrap();
    let found = ours(&psc).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].lifecycle(), Lifecycle::Available);

    // Marks: both halves' labels, each by its own setLabels operation.
    let marks = BTreeMap::from([("privatelinkd.io/name".to_string(), "orders".to_string())]);
    psc.set_marks(&s, NAME, &marks).await.unwrap();
    let marked = passes(&psc, "the mark on both halves", || {
        both(&psc, Some("orders"))
    })
    .await;
    assert_eq!(marked.mark("privatelinkd.io/name"), Some("orders"));
    assert!(marked.marked(OWNER.0, OWNER.1), "other marks are kept");
    psc.remove_marks(&s, NAME, &["privatelinkd.io/name".to_string()])
        .await
        .unwrap();
    let unmarked = passes(&psc, "the mark gone from both halves", || both(&psc, None)).await;
    assert!(unmarked.marked(OWNER.0, OWNER.1));

    // The rule first; the address once the rule's deletion is seen done.
    server.fake.clear_requests();
    psc.delete_endpoint(&s, NAME).await.unwrap();
    let busy = psc.delete_endpoint(&s, NAME).await;
    assert!(matches!(busy, Err(CloudError::Transient(_))), "{busy:?}");
    passes(&psc, "the address's delete", || async {
        match psc.delete_endpoint(&s, NAME).await {
            Ok(()) => Some(()),
            Err(CloudError::Transient(_)) => None,
            Err(e) => panic!("{e:?}"),
        }
    })
    .await;
    passes(&psc, "nothing left", || async {
        ours(&psc).await.is_empty().then_some(())
    })
    .await;
    let deletes: Vec<String> = server
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    let base = format!("/compute/v1/projects/{PROJECT}/regions/{REGION}");
    assert_eq!(
        deletes,
        [
            format!("{base}/forwardingRules/{NAME}"),
            format!("{base}/addresses/{NAME}")
        ]
    );
}

#[tokio::test]
async fn psc_create_after_a_failed_operation_is_permanent_with_googles_message() {
    let (server, client) = start(instant()).await;
    let why = "Quota 'INTERNAL_ADDRESSES' exceeded. Limit: 0.0 in region us-central1.";
    server.fake.inject(Fault::FailOperation {
        operation_type: Some("insert".into()),
        error: OpError::new("QUOTA_EXCEEDED", why, 403),
    });
    let psc = Psc::new(client);
    let s = scope();
    assert_eq!(
        psc.create(&s, &request()).await.unwrap(),
        CreateStep::ReservingAddress
    );
    assert!(
        ours(&psc).await.is_empty(),
        "the failed insert made nothing"
    );
    assert_eq!(
        psc.create(&s, &request()).await,
        Err(CloudError::Permanent(why.into()))
    );
    // Said once: the create after that tries again (and, the fault spent, succeeds).
    assert_eq!(
        psc.create(&s, &request()).await.unwrap(),
        CreateStep::ReservingAddress
    );
}
