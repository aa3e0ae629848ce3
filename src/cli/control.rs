//! Asking the running daemon over its loopback listener (`approve-deletions`, `retry`,
//! `plan --from`): one client, one way to say the daemon cannot be reached or refused.

use anyhow::{Context, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The running daemon at `base` (`http://HOST:PORT`).
pub struct Control {
    client: reqwest::Client,
    base: String,
}

impl Control {
    pub fn new(base: &str) -> anyhow::Result<Control> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Control {
            client,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// The daemon of a config: its `metrics.listen`, where a wildcard address is reached on
    /// loopback (control requests are accepted from loopback only).
    pub fn of(listen: &str) -> anyhow::Result<Control> {
        let addr: std::net::SocketAddr = listen
            .parse()
            .with_context(|| format!("metrics.listen `{listen}` is not an address"))?;
        if addr.port() == 0 {
            bail!("metrics.listen `{listen}` picks a random port; the daemon cannot be reached");
        }
        let ip = match addr.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
            ip => ip,
        };
        Control::new(&format!(
            "http://{}",
            std::net::SocketAddr::new(ip, addr.port())
        ))
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let request = self.client.get(format!("{}{path}", self.base));
        self.answer(request).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<T> {
        let request = self.client.post(format!("{}{path}", self.base)).json(body);
        self.answer(request).await
    }

    async fn answer<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let base = &self.base;
        let answer = request
            .send()
            .await
            .with_context(|| format!("cannot reach the daemon at {base} (is it running?)"))?;
        if !answer.status().is_success() {
            bail!(
                "the daemon at {base} refused: {}",
                answer.text().await?.trim()
            );
        }
        Ok(answer.json().await?)
    }
}
